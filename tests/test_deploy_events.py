"""How `exteri-mail deploy` reads ansible-runner's events (no playbook run).

The events have the shape ansible-runner 2.4 gives (seen in real runs).
"""

from exteri_mail.deploy import Outcome, _stats, failure_text, task_result


def event(name: str, task: str, res: dict, **data) -> dict:
    return {
        "event": name,
        "event_data": {
            "host": "mx1.esteri.org",
            "task": task,
            "task_action": "ansible.builtin.command",
            "res": res,
            **data,
        },
    }


def test_a_changed_task_and_an_unchanged_one():
    changed = task_result(event("runner_on_ok", "Start Postfix", {"changed": True}))
    same = task_result(
        event("runner_on_ok", "Ask whether Postfix runs", {"changed": False})
    )

    assert changed.status == "changed"
    assert changed.line() == "changed     mx1.esteri.org  Start Postfix"
    assert same.status == "ok"


def test_a_no_log_result_is_shown_as_hidden():
    censored = {"censored": "the output has been hidden due to 'no_log: true'"}

    result = task_result(event("runner_on_ok", "Write the settings file", censored))

    assert result.status == "hidden"
    assert "censored" not in result.line()


def test_a_failure_keeps_the_module_message_and_the_last_stderr_line():
    res = {
        "msg": "non-zero return code",
        "stderr": "Traceback ...\nexteri-mail: postsrsd did not start: port in use",
    }

    result = task_result(event("runner_on_failed", "Start the helpers", res))
    outcome = Outcome(results=[result], runner_status="failed")

    assert failure_text(outcome) == (
        "deploy failed:\n"
        "  mx1.esteri.org: task 'Start the helpers' (ansible.builtin.command): "
        "non-zero return code: exteri-mail: postsrsd did not start: port in use"
    )


def test_an_ignored_failure_is_no_failure():
    res = {"msg": "non-zero return code"}

    result = task_result(event("runner_on_failed", "Probe", res, ignore_errors=True))

    assert result.status == "ok"
    assert Outcome(results=[result], runner_status="successful").ok


def test_an_unreachable_host_is_reported_with_the_reason():
    res = {"msg": "Failed to connect to the host via ssh: Connection refused"}

    result = task_result(event("runner_on_unreachable", "Gathering Facts", res))

    assert result.status == "unreachable"
    assert result.message == res["msg"]


def test_a_file_change_carries_its_diff():
    res = {
        "changed": True,
        "diff": [
            {
                "before": "smtpd_banner = old\n",
                "after": "smtpd_banner = new\n",
                "before_header": "/etc/postfix/main.cf",
                "after_header": "/etc/postfix/main.cf",
            }
        ],
    }

    result = task_result(
        event("runner_on_ok", "Install the checked Postfix files", res)
    )

    assert "-smtpd_banner = old\n+smtpd_banner = new" in result.diff


def test_other_events_are_not_task_results_and_stats_become_columns():
    assert task_result({"event": "playbook_on_task_start", "event_data": {}}) is None

    stats = _stats(
        {
            "ok": {"db1": 40},
            "changed": {"db1": 2},
            "failures": {},
            "dark": {"mx1": 1},
            "skipped": {"db1": 5},
        }
    )

    assert stats == {
        "db1": {"ok": 40, "changed": 2, "failed": 0, "unreachable": 0, "skipped": 5},
        "mx1": {"ok": 0, "changed": 0, "failed": 0, "unreachable": 1, "skipped": 0},
    }
