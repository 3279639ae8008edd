import pytest

from content_service.files import cache_control


@pytest.mark.parametrize(
    "max_age,value", [(10, b"public, max-age=10"), (0, b"no-cache")], ids=["fresh", "revalidate"]
)
def test_cache_control(max_age, value):
    assert cache_control(max_age) == value
