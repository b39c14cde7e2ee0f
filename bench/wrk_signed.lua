-- Replays pre-signed webhook requests (one per line: signature \t path?query \t body), each
-- thread taking every Nth line so no two requests repeat while the file lasts.
-- Arguments: file, threads, offered rate in requests/s (0: as fast as answered), token prefix
-- (unique per run, so runs against the same database never collide), and an optional path that
-- replaces each line's path and query (the peer's /webhook/cor-event).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
int clock_gettime(int clock_id, wrk_timespec *tp);
]]
local clock = ffi.new("wrk_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local requests = {}
local counter = 0
local wrapped = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local interval_ms = 0
local next_due = nil
local prefix = "bench"
local path_override = nil

function init(args)
  local file = assert(io.open(args[1], "r"))
  local nthreads = tonumber(args[2])
  local rate = tonumber(args[3] or "0")
  if rate > 0 then
    interval_ms = 1000 * nthreads / rate -- this thread's share of the offered rate
  end
  prefix = args[4] or "bench"
  if args[5] and args[5] ~= "" then path_override = args[5] end
  local i = 0
  for line in file:lines() do
    if i % nthreads == tid then
      local sig, path, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      table.insert(requests, {sig = sig, path = path_override or path, body = body})
    end
    i = i + 1
  end
  file:close()
end

-- With a target rate, requests leave on a fixed schedule (an open loop like Twilio's traffic,
-- bounded by the connections) instead of as soon as the previous answer came back. A thread
-- that falls behind sends at once until it is back on schedule; latency is measured from the
-- moment a request is written, so a server that falls behind shows as a lower rate achieved.
function delay()
  if interval_ms <= 0 then return 0 end
  local now = now_ms()
  if next_due == nil then next_due = now end
  local wait = next_due - now
  next_due = next_due + interval_ms
  if wait < 0 then return 0 end
  return math.floor(wait)
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
    ["I-Twilio-Idempotency-Token"] = prefix .. "-" .. tid .. "-" .. counter .. "-" .. wrapped,
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
