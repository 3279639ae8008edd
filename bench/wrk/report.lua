-- wrk script for bench/wrk.py: adds the session cookie (env BENCH_COOKIE, if set) to every
-- request and prints the run's summary as one JSON line prefixed with BENCH_JSON.
-- Latencies are in microseconds. errors.status counts responses with a status >= 400.

local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%.0f,"requests":%.0f,"bytes":%.0f,'
      .. '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},'
      .. '"latency_us":{"p50":%.0f,"p90":%.0f,"p99":%.0f,"mean":%.1f,"max":%.0f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
