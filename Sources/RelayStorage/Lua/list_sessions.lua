-- list_sessions.lua: one page of session ids, newest first (createdAt desc, then id desc), in
-- the environment's slot; the relay then reads the rows from the sessions' own slots.
-- KEYS: 1 ix, 2 idx:all, 3 idx:open, 4 idx:closed, 5 ext, then idx:type:T for each type
--       filter, idx:tag:T for each tag filter, idx:task:T for each task filter (in that order,
--       one per value of the filters' lists below)
-- ARGV: 1 page size, 2 cursor mode ("none" | "after" | "before"), 3 cursor session id,
--       4 createdFrom ms or "", 5 createdTo ms or "",
--       6 filters JSON {"types":[],"tags":[],"tasks":[],"externalIds":[],"statuses":[]}
-- Reply: { "ok", next id or "", previous id or "", SID1, SID2, ... } | { "badcursor" }
-- How: the filter dimension with the fewest members drives the walk (a k-way merge over its
-- per-value indexes, which are lex-ordered zsets); each candidate is checked against the
-- other filters from its index state (ix). createdAt bounds and cursors become lex bounds.
-- The index state may lag the session's row by the outbox step (docs/cluster.md).
local ix_key = KEYS[1]
local size = tonumber(ARGV[1])
local mode, cursor = ARGV[2], ARGV[3]
local filters = cjson.decode(ARGV[6])
local now = now_ms()
local BATCH = 64

local function set_of(list)
  if #list == 0 then return nil end
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end
local types, tags, tasks = set_of(filters.types), set_of(filters.tags), set_of(filters.tasks)
local statuses, externals = set_of(filters.statuses), set_of(filters.externalIds)

-- Lex bounds from createdAt filters (members start with a 15-digit ms timestamp).
local floor = '-'
local ceil = '+'
if ARGV[4] ~= '' then floor = '[' .. string.format('%015d', tonumber(ARGV[4])) end
if ARGV[5] ~= '' then ceil = '(' .. string.format('%015d', tonumber(ARGV[5]) + 1) end

-- The filters' indexes as declared in KEYS (6 on: types, then tags, then tasks).
local function declared(first, count)
  local ks = {}
  for i = first, first + count - 1 do table.insert(ks, KEYS[i]) end
  return ks
end
local type_keys = declared(6, #filters.types)
local tag_keys = declared(6 + #filters.types, #filters.tags)
local task_keys = declared(6 + #filters.types + #filters.tags, #filters.tasks)
-- The driving sources: the cheapest dimension.
local function cost(ks)
  local n = 0
  for _, k in ipairs(ks) do n = n + redis.call('ZCARD', k) end
  return n
end
local sources = { KEYS[2] }
local best = cost(sources)
local function consider(ks)
  local c = cost(ks)
  if c < best then sources, best = ks, c end
end
if types then consider(type_keys) end
if tags then consider(tag_keys) end
if tasks then consider(task_keys) end
if statuses then
  if statuses['CLOSED'] and not statuses['ACTIVE'] and not statuses['EXPIRED'] then
    consider({ KEYS[4] })
  elseif not statuses['CLOSED'] then
    consider({ KEYS[3] })
  end
end

-- externalId filter: resolve directly (at most a handful of sessions).
local explicit = nil
if externals then
  explicit = {}
  for _, e in ipairs(filters.externalIds) do
    local sid = redis.call('HGET', KEYS[5], e)
    local held = sid and redis.call('HGET', ix_key, sid)
    if held then
      local st = cjson.decode(held)
      if tonumber(st.v) > 0 then explicit[st.m] = true end
    end
  end
end

-- A session whose data expired (retention) leaves its index entries behind: drop them from
-- the indexes this walk can name (the per-type/tag/task ones are dropped when walked; the
-- sweeper drops the rest and the index state).
local function forget(member)
  for _, key in ipairs(sources) do redis.call('ZREM', key, member) end
  for i = 2, 4 do redis.call('ZREM', KEYS[i], member) end
end

local function matches(member)
  local sid = string.sub(member, 17)
  local held = redis.call('HGET', ix_key, sid)
  local st = held and cjson.decode(held)
  if not st or st.m ~= member or (st.dead ~= '' and tonumber(st.dead) <= now) then
    forget(member)
    return false
  end
  if explicit and not explicit[member] then return false end
  if types and not types[st.type] then return false end
  if tasks and not tasks[st.task] then return false end
  if tags then
    local any = false
    for _, t in ipairs(st.tags) do
      if tags[t] then any = true break end
    end
    if not any then return false end
  end
  if statuses then
    local status = 'ACTIVE'
    if tonumber(st.closed) > 0 then status = 'CLOSED'
    elseif tonumber(st.exp) > 0 and tonumber(st.exp) <= now then status = 'EXPIRED' end
    if not statuses[status] then return false end
  end
  return true
end

-- Walks the sources in one direction from a lex bound, returning up to `limit` matching members.
-- descending: from `hi` down to floor; ascending: from `lo` up to ceil.
local function walk(descending, start, limit)
  local found = {}
  if explicit then
    local ms = {}
    for m, _ in pairs(explicit) do table.insert(ms, m) end
    table.sort(ms, function(a, b) if descending then return a > b else return a < b end end)
    for _, m in ipairs(ms) do
      local inside
      if descending then
        inside = (start == '+' or (string.sub(start, 1, 1) == '(' and m < string.sub(start, 2)) or (string.sub(start, 1, 1) == '[' and m <= string.sub(start, 2)))
          and (floor == '-' or m >= string.sub(floor, 2))
          and (ceil == '+' or m < string.sub(ceil, 2))
      else
        inside = (start == '-' or (string.sub(start, 1, 1) == '(' and m > string.sub(start, 2)) or (string.sub(start, 1, 1) == '[' and m >= string.sub(start, 2)))
          and (ceil == '+' or m < string.sub(ceil, 2))
          and (floor == '-' or m >= string.sub(floor, 2))
      end
      if inside and matches(m) then
        table.insert(found, m)
        if #found >= limit then break end
      end
    end
    return found
  end
  -- k-way merge with per-source buffers.
  local bufs, pos, next_from, done = {}, {}, {}, {}
  for i, _ in ipairs(sources) do bufs[i], pos[i], next_from[i], done[i] = {}, 1, start, false end
  local function fill(i)
    if pos[i] <= #bufs[i] or done[i] then return end
    local r
    if descending then
      r = redis.call('ZRANGE', sources[i], next_from[i], floor, 'BYLEX', 'REV', 'LIMIT', 0, BATCH)
    else
      r = redis.call('ZRANGE', sources[i], next_from[i], ceil, 'BYLEX', 'LIMIT', 0, BATCH)
    end
    bufs[i], pos[i] = r, 1
    if #r < BATCH then done[i] = true end
    if #r > 0 then next_from[i] = '(' .. r[#r] end
  end
  local last = nil
  while #found < limit do
    local pick = nil
    for i, _ in ipairs(sources) do
      fill(i)
      local head = bufs[i][pos[i]]
      if head and (pick == nil or (descending and head > bufs[pick][pos[pick]]) or (not descending and head < bufs[pick][pos[pick]])) then
        pick = i
      end
    end
    if not pick then break end
    local m = bufs[pick][pos[pick]]
    pos[pick] = pos[pick] + 1
    if m ~= last then
      last = m
      if matches(m) then table.insert(found, m) end
    end
  end
  return found
end

-- Descending walks are clamped to the ceiling; ascending ones to the floor.
local function desc_start(bound)
  if ceil ~= '+' and (bound == '+' or string.sub(ceil, 2) <= string.sub(bound, 2)) then return ceil end
  return bound
end
local function asc_start(bound)
  if floor ~= '-' and (bound == '-' or string.sub(floor, 2) >= string.sub(bound, 2)) then return floor end
  return bound
end

local cursor_member = nil
if mode ~= 'none' then
  local held = redis.call('HGET', ix_key, cursor)
  if not held then return { 'badcursor' } end
  cursor_member = cjson.decode(held).m
  if not cursor_member then return { 'badcursor' } end
end

local page, has_next, has_prev
if mode == 'before' then
  local newer = walk(false, asc_start('(' .. cursor_member), size + 1)
  if #newer < size then
    -- Too few rows before the cursor: answer with the first page, never a short one.
    mode = 'none'
  else
    page = {}
    for i = math.min(#newer, size), 1, -1 do table.insert(page, newer[i]) end
    has_prev = #newer > size
    has_next = #walk(true, desc_start('[' .. cursor_member), 1) > 0
  end
end
if mode == 'none' or mode == 'after' then
  local start = '+'
  if mode == 'after' then start = '(' .. cursor_member end
  local older = walk(true, desc_start(start), size + 1)
  page = {}
  for i = 1, math.min(#older, size) do table.insert(page, older[i]) end
  has_next = #older > size
  has_prev = false
  if mode == 'after' then
    has_prev = #walk(false, asc_start('[' .. cursor_member), 1) > 0
  end
end

local reply = { 'ok', '', '' }
if #page > 0 then
  if has_next then reply[2] = string.sub(page[#page], 17) end
  if has_prev then reply[3] = string.sub(page[1], 17) end
end
for _, m in ipairs(page) do
  table.insert(reply, string.sub(m, 17))
end
return reply
