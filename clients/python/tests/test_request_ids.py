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
