"""aiosmtpd handler for scripts/test: stores every message it receives in a Maildir.

Run as:  PYTHONPATH=scripts python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_maildir.MaildirCapture DIR

Unlike aiosmtpd.handlers.Mailbox, which re-parses and re-serialises each message with
Python's email package, this keeps the DATA bytes exactly as the client sent them (after
SMTP dot-unstuffing), so tests can check header encoding and escaping byte for byte.

Each message becomes one file in DIR/new/ (written to DIR/tmp/ first and renamed, so a
reader never sees half a message). The file starts with the envelope, as a delivery agent
would add it:

    Return-Path: <MAIL FROM address>
    Delivered-To: <one line per RCPT TO address>

followed by the message bytes as received.
"""

import itertools
import mailbox
import os
import time

_counter = itertools.count()


class MaildirCapture:
    def __init__(self, mail_dir):
        self.mail_dir = os.fspath(mail_dir)
        # Creates DIR/{tmp,new,cur} if missing.
        mailbox.Maildir(self.mail_dir, create=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("MaildirCapture takes exactly one argument: the Maildir directory")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        header = "Return-Path: <{}>\r\n".format(envelope.mail_from or "")
        for rcpt in envelope.rcpt_tos:
            header += "Delivered-To: {}\r\n".format(rcpt)
        body = envelope.original_content
        if body is None:
            body = envelope.content
        if isinstance(body, str):
            body = body.encode("utf-8", errors="surrogateescape")

        name = "{}.P{}Q{}.tripkey-test".format(time.time_ns(), os.getpid(), next(_counter))
        tmp_path = os.path.join(self.mail_dir, "tmp", name)
        with open(tmp_path, "wb") as f:
            f.write(header.encode("utf-8", errors="surrogateescape"))
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp_path, os.path.join(self.mail_dir, "new", name))
        return "250 OK"
