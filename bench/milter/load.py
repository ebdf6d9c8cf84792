#!/usr/bin/env python3
"""SMTP load for bench/milter/run.sh: N messages over C concurrent connections to one port.

Each connection sends its share of the messages in one SMTP session (MAIL, RCPT, DATA, ...),
as a relaying MTA or a busy submission server does. Prints one line:
    <messages accepted> <seconds> <messages/s> <refused>
"""
import smtplib
import sys
import threading
import time


def main():
    port, total, conns, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(path, "rb") as f:
        message = f.read()
    per = [total // conns + (1 if i < total % conns else 0) for i in range(conns)]
    ok = [0] * conns
    refused = [0] * conns
    barrier = threading.Barrier(conns + 1)

    def worker(i):
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=120)
        smtp.ehlo("bench.example.co.jp")
        barrier.wait()
        for _ in range(per[i]):
            try:
                smtp.sendmail("sender@example.co.jp", ["someone@bench.example"], message)
                ok[i] += 1
            except smtplib.SMTPException:
                refused[i] += 1
                smtp.rset()
        smtp.quit()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.monotonic()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    accepted = sum(ok)
    print(f"{accepted} {elapsed:.3f} {accepted / elapsed:.1f} {sum(refused)}")


if __name__ == "__main__":
    main()
