"""``thermal-perception view``: the live pipeline in a browser, and on a Foxglove server.

ROS-free parts: :mod:`.frames` (frame encoding, temperature lookup, drawing data),
:mod:`.protocol` (the page's WebSocket messages and their checks), :mod:`.hub` (latest-only
delivery to each browser, frames dropped for a slow one), :mod:`.server` (the aiohttp app),
:mod:`.foxglove_sink` (the same data with Foxglove schemas). The rclpy subscriber that feeds
them is :mod:`thermal_perception.ros.view_source`.
"""
