"""One application-settings reader (issue 12): the engine, the log set-up, the notifications and the Application
Settings dialog parse the stored text in one place (ic.settings.app), each reading all settings in one query."""
from __future__ import annotations

from pathlib import Path

import pytest

from ic.errors import ConfigError
from ic.settings.app import AppSettings, load_app_settings
from ic.settings.models import DATA_TYPES, FILE_ONLY_DATA_TYPES, DataType


class _Counting:
    """The real store, counting how it is asked."""

    def __init__(self, store) -> None:
        self.store, self.all_calls, self.one_calls = store, 0, 0

    def all_settings(self):
        self.all_calls += 1
        return self.store.all_settings()

    def get_setting(self, key, default=None):
        self.one_calls += 1
        return self.store.get_setting(key, default)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_typed_getters_and_the_strict_sentence(store, tmp_path):
    for key, value in {"transfer_batch_size": "25", "appliance_max_rps": "2.5", "notify.enabled": "Yes",
                       "log_dir": str(tmp_path), "bad": "many", "nan": "nan", "empty": ""}.items():
        store.set_setting(key, value)
    values = load_app_settings(store)
    assert values.number("transfer_batch_size", 50) == 25 and values.number("appliance_max_rps", None, float) == 2.5
    assert values.flag("notify.enabled") and not values.flag("missing") and values.path("log_dir") == tmp_path
    assert values.number("bad", 7) == 7 and values.number("nan", 1.0, float) == 1.0 and values.text("empty", "d") == "d"
    with pytest.raises(ConfigError, match="The application setting bad must be a number, not 'many'.") as err:
        load_app_settings(store, strict=True).number("bad", 7)
    assert err.value.field == "bad"


def test_every_reader_asks_the_store_once(store, tmp_path):
    from ic import logs, notify
    from ic.services import app_settings
    from ic.transfer.engine import EngineOptions

    store.set_setting("transfer_download_workers", "3")
    store.set_setting("log_removal_days", "-5")
    store.set_setting("notify.port", "2525")
    spy = _Counting(store)
    assert EngineOptions.from_store(spy).workers == 3
    assert logs.removal_days(spy) == 0
    assert notify.load_settings(spy).port == 2525
    assert app_settings.get_app_settings(spy)["transfer_download_workers"] == "3"
    assert app_settings.get_value(spy, "transfer_download_workers") == 3
    assert (spy.all_calls, spy.one_calls) == (5, 0)


def test_a_bad_engine_setting_stops_a_run_with_one_sentence_but_not_the_window(store):
    from ic.services import app_settings
    from ic.transfer.engine import EngineOptions

    store.set_setting("transfer_batch_size", "fifty")
    with pytest.raises(ConfigError, match="transfer_batch_size must be a number, not 'fifty'"):
        EngineOptions.from_store(store)
    assert app_settings.get_value(store, "transfer_batch_size") == int(app_settings.APP_SETTINGS[
        "transfer_batch_size"].default())


def test_logging_survives_an_unreadable_settings_database(tmp_path):
    from ic import logs

    class Broken:
        def all_settings(self):
            raise OSError("disk gone")

    assert logs.removal_days(Broken()) == logs.DEFAULT_REMOVAL_DAYS
    assert isinstance(logs.log_dir(Broken()), Path)
    assert load_app_settings(None) == AppSettings()


def test_data_types_are_one_enum_whose_members_are_the_stored_strings():
    assert DATA_TYPES == tuple(DataType) and all(isinstance(t, str) for t in DATA_TYPES)
    assert DataType("smsr") is DataType.SMSR and DataType.SMSR == "smsr" and f"{DataType.SMSR}" == "smsr"
    assert FILE_ONLY_DATA_TYPES == ("recordings", "smsr", "shell", "backup") and not DataType.SESSION.is_file
    assert DataType.BACKUP.label == "Site backups"
