"""What a run costs the machine: the peak resident memory of this process, for benchmarks and reports."""
import resource
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak resident set size in bytes.

    Linux's ``VmHWM`` (the high-water mark of this process's own memory map). ``ru_maxrss``, the fallback
    elsewhere, is not used on Linux because a process started by fork and exec also counts there the memory
    its parent had at the fork: every stage of a benchmark driver would report at least the driver's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux; the BSDs differ
