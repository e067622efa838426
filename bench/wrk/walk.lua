-- wrk script: player-like sequential walks. Each wrk thread keeps one stream per connection
-- (wrk has no per-connection hook, so streams are served round-robin, which is what a thread
-- with one request in flight per connection does anyway): a stream walks one file from the
-- start in 100 KiB ranges, then picks another file.
-- usage: wrk ... -s walk.lua URL -- FILES_LIST STREAMS_PER_THREAD
local files, sizes = {}, {}
local streams = {}
local next_stream = 1
local chunk = 102400

function init(args)
  math.randomseed(os.time() * 1000 + (tonumber(tostring({}):sub(8), 16) or 0) % 1000)
  for line in io.lines(args[1]) do
    local p, s = line:match("(%S+) (%d+)")
    if tonumber(s) >= chunk then
      files[#files + 1] = p
      sizes[#sizes + 1] = tonumber(s)
    end
  end
  local n = tonumber(args[2]) or 50
  for k = 1, n do
    local i = math.random(#files)
    -- start somewhere in the file so that streams are not in lockstep
    streams[k] = {file = i, off = (math.random(math.floor(sizes[i] / chunk)) - 1) * chunk}
  end
end

function request()
  local s = streams[next_stream]
  next_stream = next_stream % #streams + 1
  local size = sizes[s.file]
  if s.off >= size then
    s.file = math.random(#files)
    s.off = 0
    size = sizes[s.file]
  end
  local last = math.min(s.off + chunk, size) - 1
  local req = wrk.format("GET", files[s.file], {["Range"] = "bytes=" .. s.off .. "-" .. last})
  s.off = last + 1
  return req
end

done = dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "done.lua")
