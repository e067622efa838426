-- Shared by the wrk scripts of bench/run.py.
local M = {}

M.chunk = 102400

-- FILES_LIST: one "<url-path> <size>" per line; keeps files of at least one chunk.
function M.load_files(path)
  math.randomseed(os.time() * 1000 + (tonumber(tostring({}):sub(8), 16) or 0) % 1000)
  local files, sizes = {}, {}
  for line in io.lines(path) do
    local p, s = line:match("(%S+) (%d+)")
    if tonumber(s) >= M.chunk then
      files[#files + 1] = p
      sizes[#sizes + 1] = tonumber(s)
    end
  end
  return files, sizes
end

-- A request for a random 100 KiB-aligned range of a random file.
function M.random_range(files, sizes)
  local i = math.random(#files)
  local first = (math.random(math.floor(sizes[i] / M.chunk)) - 1) * M.chunk
  return wrk.format("GET", files[i], {["Range"] = "bytes=" .. first .. "-" .. (first + M.chunk - 1)})
end

-- One machine-readable summary line.
function M.done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests": %d, "bytes": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"p999_us": %d, ' ..
    '"mean_us": %.1f, "errors": %d, "non2xx": %d}\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9),
    latency.mean, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.errors.status))
end

return M
