"""Where metric analysis reads its figures: the providers behind the engine's ``Metrics`` port.

``ProviderMetrics`` hands each analysis a reader that sends every metric to its provider: the
local router's own counts (``router``), a Prometheus server (``prometheus``) or a JSON endpoint
(``http``). It also sends synthetic load (``load``) and runs the rank test of the optional judge
(``judge``). A provider that cannot answer raises ``MetricsError``; none ever guesses a figure.
"""

from __future__ import annotations

from arxdeploy.analysis.source import ProviderMetrics

__all__ = ["ProviderMetrics"]
