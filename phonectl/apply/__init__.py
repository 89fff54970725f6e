"""`phonectl apply`: bring many users' phones in line with a CSV or JSON Lines file.

rows.py reads and checks the file; plan.py plans each row, in file order, against a model of
each user's phones that earlier rows have already changed; run.py resolves users to ids,
reads their phones and sends the planned writes through Graph's $batch, and builds the
(immutable) result of every row from the plan and what Graph answered."""
