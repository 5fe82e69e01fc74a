-- wrk load for benches/pds_bench.py, configured by environment variables:
--   BENCH_MODE   "create": POST com.atproto.repo.createRecord, a new app.bsky.feed.post per
--                request (its text numbered, so every record is new; the server picks the
--                rkey, a TID); "get": GET the URL given to wrk as is (getRecord).
--   BENCH_DID    the repository written to (create)
--   BENCH_TOKEN  the account's access token (create)
--   BENCH_LIMIT  stop after this many answers (create; 0 or unset: run for wrk's duration).
--                Run with one wrk thread (-t1) so the limit and the numbering are exact.
--   BENCH_DONE_FILE  with BENCH_LIMIT: create this file when the limit is reached (wrk itself
--                only exits at its deadline or on SIGINT).
-- At the end one line is printed: "BENCH " and a JSON object with the request count, the
-- duration, the error counts and latency percentiles (microseconds).

local mode = os.getenv("BENCH_MODE") or "get"
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local did = os.getenv("BENCH_DID") or ""
local done_file = os.getenv("BENCH_DONE_FILE")
local sent = 0
local answered = 0

local template = '{"repo":"%s","collection":"app.bsky.feed.post","record":'
  .. '{"$type":"app.bsky.feed.post","text":"benchmark post number %d",'
  .. '"createdAt":"2026-11-24T12:00:00.000Z","langs":["en"]}}'

if mode == "create" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")

  request = function()
    sent = sent + 1
    local body = string.format(template, did, sent)
    return wrk.format("POST", "/xrpc/com.atproto.repo.createRecord", nil, body)
  end

  if limit > 0 then
    response = function(status, headers, body)
      answered = answered + 1
      if answered >= limit then
        if done_file and answered == limit then
          io.open(done_file, "w"):close()
        end
        wrk.thread:stop()
      end
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,'
      .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
