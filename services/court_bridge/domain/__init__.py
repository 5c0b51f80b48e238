"""court_bridge's rules: pure functions and state machines, no I/O, no nameko, no pymongo.

  model         courts, suitable causes and rules (what data/*.yaml holds), as values
  calendar      deadlines at the end of a local day
  codes         case codes as people type them
  referrals     screening a referral batch, the mediation period and its extension, feedback
  confirmation  judicial confirmation (司法确认) and enforcement
  filing        priority / fast-track filing (优先立案 / 速裁) and on-site records
  mediation_record  the record of a failed mediation (调解笔录) the court receives
  delivery      retries and back-off for messages to a court; the "stuck" rule
"""
