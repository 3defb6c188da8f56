"""models.budget.period_window: which period a day falls in (pure, no database)."""

from __future__ import annotations

from datetime import date

import pytest

from models.budget import BudgetPeriod, PeriodWindow, period_window

M, Q, Y, F = BudgetPeriod.MONTHLY, BudgetPeriod.QUARTERLY, BudgetPeriod.YEARLY, BudgetPeriod.FIXED


@pytest.mark.parametrize("day, start, end", [
    (date(2025, 1, 1), date(2025, 1, 1), date(2025, 2, 1)),
    (date(2025, 1, 31), date(2025, 1, 1), date(2025, 2, 1)),
    (date(2025, 2, 28), date(2025, 2, 1), date(2025, 3, 1)),
    (date(2024, 2, 29), date(2024, 2, 1), date(2024, 3, 1)),  # leap day
    (date(2025, 4, 30), date(2025, 4, 1), date(2025, 5, 1)),
    (date(2025, 11, 30), date(2025, 11, 1), date(2025, 12, 1)),
    (date(2025, 12, 1), date(2025, 12, 1), date(2026, 1, 1)),
    (date(2025, 12, 31), date(2025, 12, 1), date(2026, 1, 1)),  # year end rolls into January
])
def test_monthly_window_is_the_calendar_month(day, start, end):
    assert period_window(M, day) == PeriodWindow(start, end)


@pytest.mark.parametrize("day, start, end", [
    (date(2025, 1, 1), date(2025, 1, 1), date(2025, 4, 1)),
    (date(2025, 2, 14), date(2025, 1, 1), date(2025, 4, 1)),
    (date(2025, 3, 31), date(2025, 1, 1), date(2025, 4, 1)),  # last day of Q1
    (date(2025, 4, 1), date(2025, 4, 1), date(2025, 7, 1)),  # first day of Q2
    (date(2025, 6, 30), date(2025, 4, 1), date(2025, 7, 1)),
    (date(2025, 7, 1), date(2025, 7, 1), date(2025, 10, 1)),
    (date(2025, 9, 30), date(2025, 7, 1), date(2025, 10, 1)),
    (date(2025, 10, 1), date(2025, 10, 1), date(2026, 1, 1)),
    (date(2025, 12, 31), date(2025, 10, 1), date(2026, 1, 1)),  # Q4 ends at the new year
])
def test_quarterly_window_is_the_calendar_quarter(day, start, end):
    assert period_window(Q, day) == PeriodWindow(start, end)


@pytest.mark.parametrize("day, start, end", [
    (date(2025, 1, 1), date(2025, 1, 1), date(2026, 1, 1)),
    (date(2025, 7, 15), date(2025, 1, 1), date(2026, 1, 1)),
    (date(2025, 12, 31), date(2025, 1, 1), date(2026, 1, 1)),
    (date(2024, 2, 29), date(2024, 1, 1), date(2025, 1, 1)),
])
def test_yearly_window_is_the_calendar_year(day, start, end):
    assert period_window(Y, day) == PeriodWindow(start, end)


def test_every_day_of_a_year_falls_in_exactly_one_window_of_each_kind():
    day = date(2024, 1, 1)
    while day.year == 2024:
        for period in (M, Q, Y):
            window = period_window(period, day)
            assert window.start <= day < window.end
        day = date.fromordinal(day.toordinal() + 1)
    starts = {period_window(M, date(2024, m, 1)).start for m in range(1, 13)}
    assert len(starts) == 12
    assert {period_window(Q, date(2024, m, 15)).start for m in range(1, 13)} == {
        date(2024, 1, 1), date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1)}


def test_fixed_range_includes_its_first_and_last_day():
    starts, ends = date(2025, 3, 10), date(2025, 3, 20)
    expected = PeriodWindow(starts, date(2025, 3, 21))  # the window's end is exclusive: the day after `ends`
    assert period_window(F, starts, starts, ends) == expected
    assert period_window(F, date(2025, 3, 15), starts, ends) == expected
    assert period_window(F, ends, starts, ends) == expected


def test_fixed_range_does_not_cover_days_outside_it():
    starts, ends = date(2025, 3, 10), date(2025, 3, 20)
    assert period_window(F, date(2025, 3, 9), starts, ends) is None
    assert period_window(F, date(2025, 3, 21), starts, ends) is None


def test_fixed_range_of_one_day_and_across_year_end():
    day = date(2025, 6, 1)
    assert period_window(F, day, day, day) == PeriodWindow(day, date(2025, 6, 2))
    assert period_window(F, date(2025, 12, 31), date(2025, 12, 1), date(2025, 12, 31)) == PeriodWindow(
        date(2025, 12, 1), date(2026, 1, 1))
    assert period_window(F, date(2026, 1, 2), date(2025, 12, 20), date(2026, 1, 5)) == PeriodWindow(
        date(2025, 12, 20), date(2026, 1, 6))


def test_fixed_range_without_both_ends_covers_nothing():
    day = date(2025, 3, 15)
    assert period_window(F, day) is None
    assert period_window(F, day, date(2025, 3, 1), None) is None
    assert period_window(F, day, None, date(2025, 3, 31)) is None


def test_calendar_periods_ignore_fixed_dates():
    day = date(2025, 5, 5)
    assert period_window(M, day, date(2020, 1, 1), date(2020, 1, 2)) == PeriodWindow(date(2025, 5, 1), date(2025, 6, 1))
