"""Deliverability: the DNS records to publish, DKIM keys, SRS and signing.

records.py derives every record from Settings, check.py compares them with
what a resolver answers, keys.py keeps the DKIM keys, and helpers.py runs
the two loopback helpers (postsrsd, OpenDKIM) beside Postfix.
"""
