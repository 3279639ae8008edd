import pytest

from content_service.config import ConfigError, Settings
from content_service.files import cache_control


@pytest.mark.parametrize(
    "max_age,value", [(10, b"public, max-age=10"), (0, b"no-cache")], ids=["fresh", "revalidate"]
)
def test_cache_control(max_age, value):
    assert cache_control(max_age) == value


def test_max_age_setting(tmp_path):
    assert Settings.from_env({"CONTENT_ROOT": str(tmp_path)}).max_age == 10
    assert Settings.from_env({"CONTENT_ROOT": str(tmp_path), "CONTENT_MAX_AGE": "0"}).max_age == 0
    with pytest.raises(ConfigError):
        Settings.from_env({"CONTENT_ROOT": str(tmp_path), "CONTENT_MAX_AGE": "-1"})
