"""Node parameters as pure data (specs, rules, builders): shared by the ROS nodes and the
offline tools, with no ROS import."""

RELIABILITY_CHOICES = ("best_effort", "reliable")
