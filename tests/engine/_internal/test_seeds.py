import numpy as np

from engine._internal.seeds import Stream, derived_seed, rng, worker_seed


def test_streams_are_distinct_and_keep_their_values():
    assert len({int(stream) for stream in Stream}) == len(Stream)
    assert (Stream.SELECTION, Stream.EVALUATION, Stream.TRAIN_ORDER) == (0x5E1EC7, 0xE7A1, 0x7A1)


def test_rng_draws_what_default_rng_of_the_key_draws():
    ours = rng(7, 3, Stream.SELECTION).permutation(20)
    np.testing.assert_array_equal(ours, np.random.default_rng([7, 3, 0x5E1EC7]).permutation(20))
    ours = rng(np.int64(7), Stream.SPLIT).random(4)
    np.testing.assert_array_equal(ours, np.random.default_rng([7, 0x5E1]).random(4))


def test_derived_seed_is_31_bits_of_the_key_and_depends_on_its_order():
    expected = int(np.random.SeedSequence([5, 0xE7A1, 1]).generate_state(1)[0] >> 1)
    assert derived_seed(5, Stream.EVALUATION, 1) == expected
    assert 0 <= expected < 2**31
    assert derived_seed(5, 1, Stream.EVALUATION) != expected  # each site keeps its own order


def test_worker_seed_gives_each_rank_its_own_stream():
    assert [worker_seed(2, rank) for rank in range(3)] == [15838, 15839, 15840]
