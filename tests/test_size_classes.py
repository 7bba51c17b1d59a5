"""The size-class rule (size_classes.py), which structures, patterns and batches share."""

from importlib import metadata

from hypothesis import given, strategies as st

import sem_engine as se
from sem_engine import bootstrap, missing, size_classes


def test_classes_are_powers_of_two_and_one_and_a_half_times_them():
    seen = sorted({size_classes.grow(n, 8) for n in range(1, 400)})
    assert seen == [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
    assert sorted({size_classes.grow(n, 32) for n in range(1, 200)}) == [32, 48, 64, 96, 128, 192, 256]


@given(n=st.integers(1, 10_000), smallest=st.sampled_from([8, 32, 128, 256]))
def test_a_class_holds_n_and_wastes_at_most_a_third(n, smallest):
    size = size_classes.grow(n, smallest)
    assert size >= n and size >= smallest
    if n > smallest:
        assert size <= 1.5 * n


def test_floor_raises_every_class_only_inside_its_block():
    assert missing.size_class(9, 59) == (32, 64)
    with size_classes.floor(p=64, patterns=96):
        assert missing.size_class(9, 59) == (64, 96)
        assert size_classes.rounded(2, "m") == size_classes.LATENCY_MIN["m"]   # no floor on m
    assert missing.size_class(9, 59) == (32, 64)


def test_throughput_rounds_to_whole_steps_and_batches_use_the_same_classes():
    assert [size_classes.rounded(n, "npar", "throughput") for n in (1, 8, 9, 17)] == [8, 8, 16, 24]
    assert [size_classes.rounded(n, "p", "throughput") for n in (1, 9, 17)] == [1, 9, 17]
    assert [size_classes.rounded(g, "groups", policy) for g in (1, 2, 3, 5)
            for policy in ("latency", "throughput")] == [1, 1, 2, 2, 4, 4, 8, 8]
    assert [bootstrap.batch_class(n) for n in (1, 9, 100, 300)] == [8, 12, 128, 384]


def test_the_version_is_the_installed_metadata():
    assert se.__version__ == metadata.version("sem_engine")
