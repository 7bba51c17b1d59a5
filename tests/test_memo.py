"""memo.per_object: once per object and arguments, and nothing kept after the object is gone."""

import gc

from sem_engine import memo


class Owner:
    def __init__(self, tag):
        self.tag = tag


def test_computed_once_per_object_and_arguments_and_freed_with_the_object():
    calls = []

    @memo.per_object
    def value(owner, k):
        calls.append((owner.tag, k))
        return owner.tag * k

    a, b = Owner(2), Owner(3)
    assert [value(a, 1), value(a, 1), value(a, 5), value(b, 1)] == [2, 2, 10, 3]
    assert calls == [(2, 1), (2, 5), (3, 1)]
    del a
    gc.collect()
    assert len(value.cache) == 1


def test_a_key_function_shares_the_value_between_objects_of_one_key():
    calls = []
    spec = Owner("spec")

    @memo.per_object(key=lambda fit: fit.spec)
    def extended(fit):
        calls.append(fit.tag)
        return len(calls)

    first, second = Owner(1), Owner(2)
    first.spec = second.spec = spec
    assert extended(first) == extended(second) == 1
    del first, second, spec
    gc.collect()
    assert len(extended.cache) == 0
