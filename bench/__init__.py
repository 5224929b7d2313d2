"""Benchmarks: speed and memory figures, kept out of the timed test suite."""


def print_profile(profiler, engine_rows: int = 25, own_rows: int = 20) -> None:
    """The engine's functions by cumulative time, then everything by own time."""
    import pstats

    stats = pstats.Stats(profiler).sort_stats("cumulative")
    print("\n-- engine functions by cumulative time")
    stats.print_stats(r"engine/", engine_rows)
    print("\n-- everything by own time")
    stats.sort_stats("tottime").print_stats(own_rows)
