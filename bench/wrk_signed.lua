-- Replays pre-signed webhook requests (one per line: signature \t path?query \t body), each
-- thread taking every Nth line so no two requests repeat while the file lasts.
local requests = {}
local counter = 0
local wrapped = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local pause_ms = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  local nthreads = tonumber(args[2])
  pause_ms = tonumber(args[3] or "0")
  local i = 0
  for line in file:lines() do
    if i % nthreads == tid then
      local sig, path, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      table.insert(requests, {sig = sig, path = path, body = body})
    end
    i = i + 1
  end
  file:close()
end

-- With a target rate, each connection waits between requests (an open-ish loop like Twilio's
-- traffic instead of a saturating closed loop).
function delay()
  return pause_ms
end

function request()
  counter = counter + 1
  issued = (issued or 0) + 1
  if counter > #requests then
    counter = 1
    wrapped = wrapped + 1
  end
  local r = requests[counter]
  return wrk.format("POST", r.path, {
    ["Content-Type"] = "application/json",
    ["X-Twilio-Signature"] = r.sig,
    ["I-Twilio-Idempotency-Token"] = "bench-" .. tid .. "-" .. counter .. "-" .. wrapped,
  }, r.body)
end

function done(summary, latency, requests)
  local total_issued = 0
  for _, thread in ipairs(threads) do
    total_issued = total_issued + (thread:get("issued") or 0)
  end
  io.write(string.format("ISSUED %d\n", total_issued))
  io.write(string.format("LAT p50=%.2f p90=%.2f p99=%.2f max=%.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("TOTAL requests=%d errors_status=%d errors_connect=%d errors_timeout=%d errors_read=%d\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.timeout,
    summary.errors.read))
end
