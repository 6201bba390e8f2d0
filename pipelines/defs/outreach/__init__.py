"""Outreach per market: enroll the day's new leads into the campaigns naming the market
(`outreach/enrollments`), then send the touches that are due through the compliance gate
(`outreach/sends`), reconciling attempts of unknown outcome first; schedules for both and a
sensor that pauses a campaign whose error rate passes its limit."""
