"""Archive a fit as JSON and load it back: every table survives the round trip exactly."""

import json

import pandas as pd
import pytest

import sem_engine as se
from reference_cases import assert_close, fitted, read
from sem_engine.errors import SemError
from sem_engine.serialize import FORMAT_VERSION, decode, encode, from_dict, load_json, to_dict


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    path = tmp_path_factory.mktemp("archive") / "poldem.json"
    text = fitted("poldem").to_json(path)
    assert path.read_text(encoding="utf-8") == text + "\n"
    return path


def test_round_trip_of_every_table(archived):
    fit = fitted("poldem")
    loaded = se.load_json(archived)
    pd.testing.assert_frame_equal(loaded.estimates(), fit.estimates())
    ref = read("poldem", "estimates.csv")   # and they are lavaan's numbers
    assert_close(loaded.estimates()["est"], ref["est"], what="est")
    assert_close(loaded.standardized("std.all")["est_std"], ref["std_all"], what="std.all")
    for kind in ("std.lv", "std.all", "std.nox"):
        pd.testing.assert_frame_equal(loaded.standardized(kind), fit.standardized(kind))
    pd.testing.assert_series_equal(loaded.r2(), fit.r2())
    pd.testing.assert_series_equal(loaded.fit_measures(), fit.fit_measures())
    report = fit.validity_report()
    pd.testing.assert_frame_equal(loaded.validity_report(), report)
    assert loaded.validity_report().attrs == report.attrs
    pd.testing.assert_frame_equal(loaded.implied()["cov"], fit.implied()["cov"])


def test_metadata(archived):
    fit = fitted("poldem")
    loaded = load_json(archived)
    assert loaded.version == se.__version__ and loaded.model == fit.model and loaded.nobs == fit.nobs
    assert loaded.options["likelihood"] == "normal" and loaded.options["std_lv"] is False
    s = loaded.scalars
    assert (s["chisq"], s["df"], s["npar"], s["converged"], s["iterations"]) == (
        fit.chisq, fit.df, fit.npar, True, fit.n_iter)
    assert "chisq = " in repr(loaded)


def test_file_is_strict_json(archived):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    content = json.loads(archived.read_text(encoding="utf-8"), parse_constant=refuse)
    assert content["format"] == "sem_engine.fit" and content["engine"]["version"] == se.__version__
    z = content["estimates"]["__frame__"]
    assert z["data"][0][z["columns"].index("z")] is None   # a fixed loading has no z: NaN -> null


def test_sections_left_out_are_named(archived):
    fit = fitted("poldem")
    slim = from_dict(json.loads(json.dumps(fit.to_dict(fit_measures=False, standardized=False, validity=False))))
    pd.testing.assert_frame_equal(slim.estimates(), fit.estimates())
    with pytest.raises(KeyError, match="no 'fit_measures'.*estimates"):
        slim.fit_measures()
    with pytest.raises(KeyError, match="no 'bootstrap'"):
        load_json(archived).bootstrap_estimates()


def test_no_validity_section_without_factors():
    content = to_dict(fitted("poldem_path"), fit_measures=False, standardized=False)
    assert "validity" not in content and "estimates" in content


def test_other_files_are_refused():
    with pytest.raises(SemError, match="not a sem_engine archive"):
        from_dict({"estimates": []})
    with pytest.raises(SemError, match="newer"):
        from_dict({"format": "sem_engine.fit", "format_version": FORMAT_VERSION + 1})


def test_encode_decode_keeps_indexes_dtypes_and_missing_values():
    frame = pd.DataFrame({"a": [1.5, float("nan")], "ok": pd.array([True, None], dtype="boolean"),
                          "n": [1, 2], "s": ["x", "y"]}, index=pd.Index(["f", "g"], name="factor"))
    frame.attrs = {"thresholds": {"ave": 0.5}}
    back = decode(json.loads(json.dumps(encode({"t": frame, "s": frame["a"]}), allow_nan=False)))
    pd.testing.assert_frame_equal(back["t"], frame)
    pd.testing.assert_series_equal(back["s"], frame["a"])
    assert back["t"].attrs == frame.attrs
