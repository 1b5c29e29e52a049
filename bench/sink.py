"""The outside world of the benchmarks: an SMTP sink that counts messages."""

import multiprocessing
import socket
import time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Counter:
    def __init__(self, count):
        self.count = count

    async def handle_DATA(self, server, session, envelope):
        with self.count.get_lock():
            self.count.value += 1
        return "250 2.0.0 Ok: counted"


def _serve(port: int, count, ready) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counter(count), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


class Sink:
    """aiosmtpd in its own process, so the client's GIL does not slow it."""

    def __init__(self):
        self.port = free_port()
        self._count = multiprocessing.Value("q", 0)
        ready = multiprocessing.Event()
        self._proc = multiprocessing.Process(
            target=_serve, args=(self.port, self._count, ready), daemon=True
        )
        self._proc.start()
        if not ready.wait(10):
            raise RuntimeError("SMTP sink did not start")

    @property
    def count(self) -> int:
        return self._count.value

    def wait_for(self, total: int, timeout: float) -> float:
        """Block until TOTAL messages arrived; the monotonic time it happened."""
        deadline = time.monotonic() + timeout
        while self.count < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sink got {self.count} of {total} messages")
            time.sleep(0.005)
        return time.monotonic()

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(5)
