"""The functional core: every algorithm of the pipeline, pure numpy/SciPy/OpenCV, no ROS.

Folders follow the stages a frame goes through:

- ``physics``: Planck band radiometry, the measurement equation, calibration models, the
  microbolometer and camera profiles;
- ``correction``: bad pixels, non-uniformity correction, lag, the processing chain to
  temperature, per-camera correction;
- ``display``: AGC, colormaps, isotherms, palette inversion;
- ``measure``: regions of interest, their statistics and alarms;
- ``detection``: warm bodies, hotspots and fire, the learned detector, tracking;
- ``fusion``: geometry, time sync, thermal/RGB registration, lidar, geolocation, terrain,
  lens calibration.

``kernels`` holds the compiled per-pixel loops the stages share.
"""
