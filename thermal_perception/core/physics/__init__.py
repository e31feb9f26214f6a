"""Physics of a thermal camera: what the scene emits and what the camera makes of it.

- ``planck``: Planck's law, Stefan-Boltzmann, Wien (black bodies);
- ``band``: band radiance over the camera's band and response, its invertible table;
- ``measurement``: the measurement equation (emissivity, reflected temperature, atmosphere,
  window) and its inverse;
- ``vendor``: camera makers' own conversions (FLIR Planck constants, TLinear);
- ``calibration``: counts <-> signal <-> temperature models and the per-stream conversion;
- ``sensor``: the microbolometer (responsivity, time constant, NETD, drift, bad pixels);
- ``camera``: camera profiles (the constants of each camera model).
"""

from thermal_perception.core.physics.band import (
    BandRadianceTable,
    band_radiance,
    band_radiance_derivative,
)
from thermal_perception.core.physics.camera import CameraProfile, get_profile
from thermal_perception.core.physics.measurement import (
    FLIR_ATMOSPHERE_DEFAULTS,
    AtmosphereConstants,
    atmospheric_transmission,
    measured_radiance,
    object_radiance,
)
from thermal_perception.core.physics.planck import (
    C1L,
    C2,
    LWIR_BAND_M,
    planck_spectral_radiance,
    planck_spectral_radiance_derivative,
    stefan_boltzmann_radiance,
    wien_peak_wavelength_m,
)
from thermal_perception.core.physics.vendor import (
    FlirPlanck,
    celsius_to_tlinear,
    flir_raw_to_temperature_c,
    tlinear_to_celsius,
)

__all__ = ["C1L", "C2", "FLIR_ATMOSPHERE_DEFAULTS", "LWIR_BAND_M", "AtmosphereConstants",
           "BandRadianceTable", "CameraProfile", "FlirPlanck", "atmospheric_transmission",
           "band_radiance", "band_radiance_derivative", "celsius_to_tlinear",
           "flir_raw_to_temperature_c", "get_profile", "measured_radiance", "object_radiance",
           "planck_spectral_radiance", "planck_spectral_radiance_derivative",
           "stefan_boltzmann_radiance", "tlinear_to_celsius", "wien_peak_wavelength_m"]
