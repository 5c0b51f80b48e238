"""Intake's rules, pure: no I/O, no nameko, no pymongo.

codes: 一案一码; divisions: jurisdiction scopes; channels: what each inlet must carry;
parties: normalising and reading personal data; classification: severity and risk flags;
dedup: when a report joins an earlier file; casefile: the status machine, timeline and
closing rule; views: what staff and the public see.
"""
