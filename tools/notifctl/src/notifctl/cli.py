"""Entry point of ``notifctl``; each command group lives in its own module."""

from __future__ import annotations

import argparse
import sys

from notifctl import inbound, k8s, keys, ledger, quarantine, queues, recipients, templates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="notifctl", description="Operate whatsapp-notif.")
    sub = parser.add_subparsers(dest="command", required=True)
    keys.register(sub)
    queues.register(sub)
    ledger.register(sub)
    quarantine.register(sub)
    recipients.register(sub)
    k8s.register(sub)
    templates.register(sub)
    inbound.register(sub)
    args = parser.parse_args(argv)
    if args.command == "keys":
        return keys.run(args)
    if args.command == "ledger":
        return ledger.run(args)
    if args.command == "k8s":
        return k8s.run(args)
    if args.command == "quarantine":
        return quarantine.run(args)
    if args.command == "recipients":
        return recipients.run(args)
    if args.command == "templates":
        return templates.run(args)
    if args.command == "inbound":
        return inbound.run(args)
    return queues.run(args)


if __name__ == "__main__":
    sys.exit(main())
