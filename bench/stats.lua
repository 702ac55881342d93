-- wrk script: POSTs a year of ticketStats over every organization, with the bearer token
-- from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
-- BENCH_STATS=series asks for the year's ticketStatsSeries by MONTH instead.
local query = "query($f: TicketStatsFilter) { ticketStats(filter: $f) { total created resolved reopened backlog byStatus { status count } byPriority { priority count } avgFirstResponseMinutes avgResolutionMinutes medianResolutionMinutes slaCompliance breached } }"
if os.getenv("BENCH_STATS") == "series" then
  query = "query($f: TicketStatsFilter) { ticketStatsSeries(filter: $f, interval: MONTH) { timeZone points { periodStart created resolved avgResolutionMinutes slaCompliance } } }"
end
wrk.body = '{"query":"' .. query .. '","variables":{"f":{"from":"' .. os.getenv("BENCH_FROM") .. '","to":"' .. os.getenv("BENCH_TO") .. '"}}}'

local errors = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"') then
    errors = errors + 1
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d non_2xx_or_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, errors + summary.errors.status))
end
