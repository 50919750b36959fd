"""Write weather.csv: synthetic daily readings of three stations for 2023.

The values are random (seed 7), with a seasonal temperature curve and about
3% of the readings missing, so that the column-apply example has a real CSV
file with dates, strings, numbers and gaps. Run from this folder:
``python make_weather.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_weather(seed: int = 7) -> pd.DataFrame:
    """Build the table: one row per station and day."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-01-01", "2023-12-31", freq="D")
    frames = []
    for station, mean_temp in [("north", 6.0), ("coast", 11.0), ("valley", 9.0)]:
        rain = rng.gamma(0.6, 4.0, len(days))
        season = -8.0 * np.cos(2 * np.pi * (days.day_of_year - 15) / 365)
        frame = pd.DataFrame(
            {
                "date": days.strftime("%Y-%m-%d"),
                "station": station,
                "temp_c": np.round(mean_temp + season + rng.normal(0, 2.5, len(days)), 1),
                "rain_mm": np.round(rain * (rng.random(len(days)) < 0.45), 1),
                "wind_ms": np.round(rng.weibull(2.0, len(days)) * 5.0, 1),
            }
        )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for column in ("temp_c", "rain_mm", "wind_ms"):
        table.loc[rng.random(len(table)) < 0.03, column] = np.nan
    return table


if __name__ == "__main__":
    make_weather().to_csv("weather.csv", index=False)
