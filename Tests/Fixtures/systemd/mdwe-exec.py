#!/usr/bin/env python3
"""Runs a command with memory-deny-write-execute on, as MemoryDenyWriteExecute=yes does.

prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN) (Linux 6.3+) is inherited across exec: the
command can map no memory both writable and executable, nor make a mapping executable later.
Exits 3 with the reason when the kernel does not offer it.
"""
import ctypes
import os
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1

libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    error = ctypes.get_errno()
    sys.stderr.write(f"mdwe-exec: prctl(PR_SET_MDWE) failed: {os.strerror(error)} (needs Linux 6.3 or later)\n")
    sys.exit(3)
os.execvp(sys.argv[1], sys.argv[1:])
