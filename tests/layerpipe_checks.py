"""Feasibility of a simulated run, checked independently of the engine that produced it."""

from parareal_toolkit.layerpipe import Trace


def assert_feasible(trace: Trace) -> None:
    """Raise ``AssertionError`` if a processor runs two tasks at once or a task starts
    before a dependency has ended (plus communication)."""
    sched = trace.schedule
    for proc in range(sched.num_processors):
        ivs = trace.intervals(proc)
        for (_s0, e0, t0), (s1, _e1, t1) in zip(ivs, ivs[1:]):
            if s1 < e0 - 1e-9 * max(1.0, abs(e0)):
                raise AssertionError(f"processor {proc} runs {t0} and {t1} at once.")
    for task, deps in sched.deps.items():
        for dep in deps:
            ready = trace.end[dep.task] + sched.transfer_time(dep, task, trace.latency, trace.bandwidth)
            if trace.start[task] < ready - 1e-9 * max(1.0, abs(ready)):
                raise AssertionError(f"{task} starts before its dependency {dep.task}.")
