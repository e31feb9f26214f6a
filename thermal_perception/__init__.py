"""thermal_perception: calibrated thermal camera perception for ROS 2.

The pure core (``thermal_perception.core``, ``.sim``, ``.io``) needs no ROS. The generated
messages (``thermal_perception.msg``) exist only in a colcon build; ``extend_path`` lets this
package span the source tree and the install tree, so both import from either.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"

from thermal_perception import _moved

_moved.install()
