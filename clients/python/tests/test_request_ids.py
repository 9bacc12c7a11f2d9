import uuid

from stepgate.request_ids import new_request_id


def test_request_ids_are_uuidv7_and_increase() -> None:
    ids = [new_request_id() for _ in range(1000)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
    assert sorted(ids) == ids
    assert len(set(ids)) == len(ids)


def test_a_full_counter_moves_on_to_the_next_millisecond_keeping_version_and_variant() -> None:
    import stepgate.request_ids as request_ids

    far = 10**13  # a clock far ahead of this one: every id counts up from the last
    request_ids._last_millis, request_ids._last_rand = far, (1 << 74) - 3
    ids = [new_request_id() for _ in range(50)]
    parsed = [uuid.UUID(text) for text in ids]
    assert all(p.version == 7 and p.variant == uuid.RFC_4122 for p in parsed)
    assert sorted(ids) == ids
    assert parsed[-1].int >> 80 == far + 1
