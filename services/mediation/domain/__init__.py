"""Mediation's rules: pure functions and values, no I/O, no nameko, no pymongo.

rules       the data file's rules as typed values
scheduling  session times, reservation slots, working hours, reminders
suggestions which mediators to suggest for a case
outcomes    the four outcomes, their events, the agreement's content
followup    risk follow-up plans and visits, on Chinese working days
codes       case codes typed in URLs; how division codes relate
"""
