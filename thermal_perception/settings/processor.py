"""Processor parameters: their specs (names, defaults, ranges, descriptions), the rules that
combine them, and the converter, chain and renderer built from them. Pure Python, so the live
node and the offline analysis use the same definitions."""

from __future__ import annotations

from typing import Any

import numpy as np

from thermal_perception.core.correction.chain import ChainConfig, ProcessingChain
from thermal_perception.core.correction.per_camera import (
    DEFAULT_KEY,
    CameraCorrection,
    CorrectionTable,
    load_corrections,
)
from thermal_perception.core.display.isotherm import draw_rois, isotherm_mask, overlay_isotherm
from thermal_perception.core.display.render import AGC_MODES, COLORMAPS, DisplayRenderer
from thermal_perception.core.measure import RoiSet
from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import (
    MODEL_NAMES,
    NETD_REFERENCE_K,
    CountsToTemperature,
    MeasurementConditions,
    UncertaintyInputs,
    make_model,
)
from thermal_perception.core.physics.camera import CameraProfile, load_profiles
from thermal_perception.ros.params import ParamSpec
from thermal_perception.settings import RELIABILITY_CHOICES

RAW_ENCODINGS = ("mono16", "16UC1")
CONDITIONS = ("emissivity", "reflected_temperature_c", "atmosphere_temperature_c",
              "distance_m", "relative_humidity", "window_temperature_c",
              "window_transmission", "window_reflection")
MODEL = ("radiometric_model", "flir_r1", "flir_r2", "flir_b", "flir_f", "flir_o",
         "tlinear_resolution_k", "gain_k_per_count", "offset_c")
UNCERTAINTY = ("netd_k", "emissivity_sigma", "reflected_temperature_sigma_k")
RADIOMETRIC = CONDITIONS + MODEL + UNCERTAINTY
DISPLAY = ("agc_mode", "colormap", "display_min_c", "display_max_c", "display_smoothing")
NO_ROIS = [""]  # a string-array parameter needs a non-empty default to have a type
CORRECTION = ("correction_file", "camera_serial")
CHAIN = ("nuc_file", "drift_compensation", "ffc_enabled", "scene_nuc", "bad_pixel_replacement",
         "flicker_detection", "lag_compensation", "lag_strength")

PARAMS = (
    ParamSpec("camera_profile", "boson640",
              "Camera class whose radiometric calibration converts counts.",
              choices=tuple(load_profiles()), read_only=True),
    ParamSpec("radiometric_model", "profile",
              "How counts relate to radiance: the camera profile's model (profile: "
              "linear_radiance for the simulated classes, tlinear for InfiRay), the profile's "
              "linear radiance calibration, FLIR Planck constants (flir_*), TLinear (kelvin = "
              "counts x resolution), Optris ((counts - 1000) / 10 C) or gain/offset in "
              "apparent temperature.", choices=("profile", *MODEL_NAMES)),
    ParamSpec("flir_r1", 0.0, "FLIR Planck R1 (camera metadata).", 0.0, 1e9),
    ParamSpec("flir_r2", 1.0, "FLIR Planck R2.", 1e-12, 1e9),
    ParamSpec("flir_b", 1428.0, "FLIR Planck B, K.", 1.0, 1e5),
    ParamSpec("flir_f", 1.0, "FLIR Planck F.", 0.0, 1e3),
    ParamSpec("flir_o", 0.0, "FLIR Planck O, counts.", -1e6, 1e6),
    ParamSpec("tlinear_resolution_k", 0.0,
              "TLinear resolution, K per count (0: the camera profile's: 0.01 for Lepton/Boson, "
              "1/64 for InfiRay).", 0.0, 1.0),
    ParamSpec("gain_k_per_count", 0.01, "gain_offset model: K per count.", 1e-6, 10.0),
    ParamSpec("offset_c", -273.15, "gain_offset model: deg C at zero counts.", -1000.0, 1000.0),
    ParamSpec("nuc_file", "",
              "Non-uniformity correction table (thermal-perception calibrate nuc); '' = none: "
              "unit gains, offsets from flat-field corrections."),
    ParamSpec("correction_file", "",
              "Per-camera temperature corrections (YAML: T' = gain * T + offset_k by camera "
              "serial; thermal-perception calibrate correction), applied after the counts -> "
              "temperature conversion; '' = none."),
    ParamSpec("camera_serial", "",
              "Entry of correction_file to apply ('' = the camera_serial of the driver's "
              "status, else the file's 'default' entry)."),
    ParamSpec("drift_compensation", True,
              "Correct offsets for the FPA temperature (drift map of the NUC table)."),
    ParamSpec("ffc_enabled", True,
              "Refresh the NUC offsets from the closed shutter's frames (flat-field correction)."),
    ParamSpec("scene_nuc", False,
              "Learn residual offsets from the moving scene (cameras without a shutter)."),
    ParamSpec("bad_pixel_replacement", True,
              "Replace bad pixels (NUC table, stuck on the shutter, flickering) by neighbours."),
    ParamSpec("flicker_detection", False, "Find flickering pixels in the live stream."),
    ParamSpec("lag_compensation", False,
              "Invert the bolometer's thermal lag (sharper edges on moving platforms)."),
    ParamSpec("lag_strength", 1.0, "Strength of the lag compensation, 0..1.", 0.0, 1.0),
    ParamSpec("emissivity", 1.0, "Object emissivity, (0, 1].", 0.01, 1.0),
    ParamSpec("emissivity_map_file", "",
              "Per-pixel emissivity (.npy floats, or 16-bit PNG/TIFF with 65535 = 1); replaces "
              "'emissivity' where set; '' = none."),
    ParamSpec("reflected_temperature_c", 20.0, "Reflected apparent temperature, deg C.",
              -100.0, 1000.0),
    ParamSpec("atmosphere_temperature_c", 20.0, "Air temperature, deg C.", -60.0, 60.0),
    ParamSpec("distance_m", 0.0, "Object distance, m (0: no atmospheric correction).",
              0.0, 10000.0),
    ParamSpec("relative_humidity", 0.5, "Relative humidity, 0..1.", 0.0, 1.0),
    ParamSpec("window_temperature_c", 20.0, "External window temperature, deg C.",
              -60.0, 200.0),
    ParamSpec("window_transmission", 1.0, "External window transmission (1: no window).",
              0.01, 1.0),
    ParamSpec("window_reflection", 0.0, "External window reflectance.", 0.0, 0.99),
    ParamSpec("netd_k", 0.0,
              "Temporal noise for the uncertainty image, K (0: the camera profile's NETD).",
              0.0, 5.0),
    ParamSpec("emissivity_sigma", 0.02, "Uncertainty of the emissivity (1 sigma).", 0.0, 0.5),
    ParamSpec("reflected_temperature_sigma_k", 2.0,
              "Uncertainty of the reflected temperature, K (1 sigma).", 0.0, 100.0),
    ParamSpec("agc_mode", "percentile", "Display contrast mode.", choices=AGC_MODES),
    ParamSpec("colormap", "ironbow", "Display colormap.", choices=COLORMAPS),
    ParamSpec("display_min_c", 0.0, "Lower end of the 'fixed' display window, deg C.",
              -100.0, 2000.0),
    ParamSpec("display_max_c", 40.0, "Upper end of the 'fixed' display window, deg C.",
              -100.0, 2000.0),
    ParamSpec("display_smoothing", 0.8,
              "Weight of the previous display window, [0, 1): higher flickers less.", 0.0, 0.99),
    ParamSpec("rois", NO_ROIS,
              "Regions of interest, one string each: 'spot NAME X Y [R]', 'box NAME X0 Y0 X1 "
              "Y1', 'poly NAME X1 Y1 X2 Y2 X3 Y3 ...', optionally followed by alarms "
              "'above=C', 'below=C', 'hysteresis=K', 'metric=max|mean|min|p95'. At most 64."),
    ParamSpec("draw_rois", True, "Draw the ROIs and their temperatures on the display image."),
    ParamSpec("display_jpeg_quality", 80,
              "JPEG quality of image_display/compressed (sensor_msgs/CompressedImage, as "
              "image_transport's compressed plugin; encoded only while subscribed).", 1, 100),
    ParamSpec("display_colorbar", False,
              "Draw a colour bar with the display window's ends, deg C, at the right edge of "
              "the display image."),
    ParamSpec("isotherm_enabled", False, "Highlight a temperature band on the display image."),
    ParamSpec("isotherm_min_c", 30.0, "Lower end of the isotherm band, deg C.", -100.0, 2000.0),
    ParamSpec("isotherm_max_c", 40.0, "Upper end of the isotherm band, deg C.", -100.0, 2000.0),
    ParamSpec("skip_shutter_frames", True,
              "Do not publish temperatures of frames taken with the shutter closed."),
    ParamSpec("image_reliability", "reliable", "QoS reliability of the image topics.",
              choices=RELIABILITY_CHOICES, read_only=True),
    ParamSpec("status_wait_s", 0.01, "Longest wait of a frame for its status message (FPA "
              "temperature, shutter), s; then the frame is processed without it (0: never "
              "wait).", 0.0, 1.0, read_only=True),
)


def check_combination(values: dict[str, Any]) -> str | None:
    if values["display_max_c"] <= values["display_min_c"]:
        return "display_max_c must be greater than display_min_c"
    if values["window_reflection"] > 1.0 - values["window_transmission"] + 1e-9:
        return "window_reflection must not exceed 1 - window_transmission"
    if values["isotherm_max_c"] <= values["isotherm_min_c"]:
        return "isotherm_max_c must be greater than isotherm_min_c"
    try:
        RoiSet.from_strings(values["rois"])
    except ValueError as exc:
        return f"rois: {exc}"
    if values["radiometric_model"] == "flir_planck" and values["flir_r1"] <= 0.0:
        return "radiometric_model flir_planck needs flir_r1 (and r2, b, f, o) from the camera"
    return None


def conditions_from(values: dict[str, Any]) -> MeasurementConditions:
    """Measurement conditions from the node's parameter values."""
    return MeasurementConditions(**{name: values[name] for name in CONDITIONS})


def radiometric_model(values: dict[str, Any], profile: CameraProfile) -> tuple[str, float]:
    """(model name, TLinear K per count) of the node's parameter values: ``profile`` and a
    zero resolution stand for the camera profile's."""
    name = values["radiometric_model"]
    if name == "profile":
        name = profile.radiometric_model
    return name, values["tlinear_resolution_k"] or profile.tlinear_resolution_k


def describe_model(values: dict[str, Any], profile: CameraProfile) -> str:
    """The radiometric model in use, for diagnostics (e.g. 'tlinear 0.015625 K/count')."""
    name, resolution_k = radiometric_model(values, profile)
    source = f" (profile {profile.name})" if values["radiometric_model"] == "profile" else ""
    return f"{name} {resolution_k:g} K/count{source}" if name == "tlinear" else name + source


def converter_from(values: dict[str, Any], profile: CameraProfile,
                   table: BandRadianceTable) -> CountsToTemperature:
    """Counts -> temperature (and uncertainty) tables for the node's parameter values."""
    name, resolution_k = radiometric_model(values, profile)
    model = make_model(
        name, table, profile=profile, R1=values["flir_r1"],
        R2=values["flir_r2"], B=values["flir_b"], F=values["flir_f"], O=values["flir_o"],
        resolution_k=resolution_k,
        gain_k_per_count=values["gain_k_per_count"], offset_c=values["offset_c"])
    uncertainty = UncertaintyInputs(
        netd_k=values["netd_k"] or profile.netd_k, emissivity_sigma=values["emissivity_sigma"],
        reflected_temperature_sigma_k=values["reflected_temperature_sigma_k"])
    return CountsToTemperature(model, conditions=conditions_from(values),
                               uncertainty=uncertainty)


def chain_from(values: dict[str, Any], profile: CameraProfile,
               converter: CountsToTemperature) -> ProcessingChain:
    """Processing chain (NUC, FFC, bad pixels, lag) for the node's parameter values; raises
    ValueError for a NUC file that cannot be used."""
    model = converter.model
    around_reference = np.array([NETD_REFERENCE_K - 0.5, NETD_REFERENCE_K + 0.5])
    counts = model.counts_from_signal(model.signal_from_temperature_k(around_reference))
    counts_per_k = float(counts[1] - counts[0])
    config = ChainConfig(
        nuc_file=values["nuc_file"], drift_compensation=values["drift_compensation"],
        ffc=values["ffc_enabled"], scene_nuc=values["scene_nuc"],
        bad_pixels=values["bad_pixel_replacement"],
        flicker_detection=values["flicker_detection"],
        lag_compensation=values["lag_compensation"], lag_strength=values["lag_strength"],
        time_constant_s=profile.time_constant_s,
        noise_sigma_counts=max(profile.netd_k * counts_per_k, 0.5))
    try:
        return ProcessingChain(config, converter)
    except OSError as exc:
        raise ValueError(f"NUC file {values['nuc_file']!r}: {exc}") from exc


def corrections_from(values: dict[str, Any]) -> CorrectionTable | None:
    """The corrections of ``correction_file`` (None when ''); raises ValueError for a file
    that cannot be used, or a ``camera_serial`` that has no entry and no default."""
    if not values["correction_file"]:
        return None
    table = load_corrections(values["correction_file"])
    serial = values["camera_serial"]
    if serial and serial not in table.cameras and DEFAULT_KEY not in table.cameras:
        raise ValueError(f"camera_serial {serial!r} has no entry in {table.path} (entries: "
                         f"{', '.join(table.cameras)}) and the file has no '{DEFAULT_KEY}'")
    return table


def select_correction(table: CorrectionTable | None, values: dict[str, Any],
                      status_serial: str = "") -> tuple[CameraCorrection | None, str]:
    """The correction to apply and why: the ``camera_serial`` parameter's entry, else the
    entry of the serial the driver reports (``status_serial``), else the file's default."""
    if table is None:
        return None, "no correction_file"
    correction, how = table.select(values["camera_serial"] or status_serial)
    source = "camera_serial parameter" if values["camera_serial"] else \
        "driver status" if status_serial else ""
    return correction, f"{how}, serial from the {source}" \
        if source and correction is not None else how


def renderer_from(values: dict[str, Any]) -> DisplayRenderer:
    """Display renderer from the node's parameter values."""
    return DisplayRenderer(agc=values["agc_mode"], colormap=values["colormap"],
                           fixed_range_c=(values["display_min_c"], values["display_max_c"]),
                           smoothing=values["display_smoothing"])


def display_image(renderer: DisplayRenderer, temperature: np.ndarray, values: dict[str, Any],
                  rois: RoiSet, roi_stats: list | None, alarm_states: dict[str, str]
                  ) -> np.ndarray:
    """The display image as the processor publishes it: colourised temperatures, the
    isotherm band, the ROIs with their temperatures and the colour bar (the renderer's
    buffer)."""
    image = renderer.render(temperature)
    if values["isotherm_enabled"]:
        mask = isotherm_mask(temperature, values["isotherm_min_c"], values["isotherm_max_c"])
        overlay_isotherm(image, mask, out=image)
    if values["draw_rois"] and len(rois):
        draw_rois(image, rois, roi_stats or None, alarm_states)
    if values["display_colorbar"]:
        renderer.draw_colorbar(image)
    return image
