"""crowdpay services: the ledger (the only writer of EarningsEntry), the budget check, marketplace hand-off,
payouts. Selectors (reads: balances, forecast, fair pay) are in crowdpay.selectors."""
