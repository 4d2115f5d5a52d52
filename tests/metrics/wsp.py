#!/usr/bin/python3
"""Prints the points of a whisper file that hold a value, one "time value"
per line, oldest first: wsp.py FILE [FROM [UNTIL]] (epoch seconds; default
the whole retention).  Uses python3-whisper, the library carbon writes with."""
import sys
import time

import whisper

path = sys.argv[1]
now = int(time.time())
frm = int(sys.argv[2]) if len(sys.argv) > 2 else now - whisper.info(path)["maxRetention"] + 1
until = int(sys.argv[3]) if len(sys.argv) > 3 else now + 1
(start, _end, step), values = whisper.fetch(path, frm, until, now=now)
for i, v in enumerate(values):
    if v is not None:
        print("%d %s" % (start + i * step, repr(v)))
