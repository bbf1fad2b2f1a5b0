"""docs/settings.md documents every setting a service reads."""

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings
from wasteland_common.settings import CommonSettings
from wl_board_sync.server import BoardSettings
from wl_control_server.server import ControlSettings
from wl_executor.server import ExecutorSettings
from wl_gateway.settings import GatewaySettings
from wl_registry.server import RegistrySettings

DOC = (Path(__file__).parents[1] / "docs" / "settings.md").read_text()


@pytest.mark.parametrize(
    "settings",
    [
        CommonSettings,
        GatewaySettings,
        RegistrySettings,
        BoardSettings,
        ExecutorSettings,
        ControlSettings,
    ],
)
def test_every_setting_is_documented(settings: type[BaseSettings]) -> None:
    missing = []
    for name, field in settings.model_fields.items():
        alias = field.alias or name.upper()
        prefix, _, suffix = alias.rpartition("_")
        grouped = f"`{prefix}_" in DOC and f"_{suffix}`" in DOC  # e.g. RATE_LIMIT_CLAIM / _DONE
        if f"`{alias}`" not in DOC and not grouped:
            missing.append(alias)
    assert missing == []
