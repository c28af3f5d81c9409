-- :checkhealth deepthink: the server, its version, the API key variable, the endpoint.
local config = require('deepthink.config')

local M = {}

-- vim.health on 0.8+ (start/ok/... from 0.10, report_start/... before), `health` on 0.7.
local health = vim.health or require('health')
local report = {}
for _, kind in ipairs({ 'start', 'ok', 'warn', 'error', 'info' }) do
  report[kind] = health[kind] or health['report_' .. kind]
end

local DEFAULT_BASE_URL = 'https://api.openai.com/v1'
local CONNECT_TIMEOUT_MS = 5000

local function nonempty(value)
  return value ~= nil and value ~= '' and value ~= vim.NIL
end

-- A `key: value` line of a YAML config file, read plainly (just enough for these checks).
local function yaml_value(path, key)
  if vim.fn.filereadable(path) ~= 1 then
    return nil
  end
  for _, line in ipairs(vim.fn.readfile(path)) do
    local value = line:match('^%s+' .. key .. ':%s*([^#]-)%s*$')
    if value ~= nil then
      value = value:gsub('^["\']', ''):gsub('["\']$', '')
      return (value ~= '' and value ~= 'null' and value ~= '~') and value or nil
    end
  end
  return nil
end

local function config_files()
  local home = vim.env.XDG_CONFIG_HOME
  if not nonempty(home) then
    home = vim.fn.expand('~/.config')
  end
  -- Later files win, as in the server.
  return { home .. '/deepthink/config.yaml', vim.fn.getcwd() .. '/.deepthink.yaml' }
end

--- `key` of the provider section: the plugin's settings, else the environment, else the
--- YAML files, else `default`; with where it came from.
local function provider_value(key, env_names, default)
  local provider = config.options.settings.provider or {}
  if nonempty(provider[key]) then
    return provider[key], 'setup({ settings = { provider = { ' .. key .. ' = … } } })'
  end
  for _, name in ipairs(env_names) do
    if nonempty(vim.env[name]) then
      return vim.env[name], '$' .. name
    end
  end
  local found, source = nil, nil
  for _, path in ipairs(config_files()) do
    local value = yaml_value(path, key)
    if value ~= nil then
      found, source = value, path
    end
  end
  if found ~= nil then
    return found, source
  end
  return default, 'the default'
end

local function check_server()
  local cmd = config.options.cmd
  local path = vim.fn.exepath(cmd[1])
  if path == '' then
    report.error(("'%s' is not an executable on PATH"):format(cmd[1]), {
      'Install the server: pip install deepthink-lsp (into a Python on your PATH)',
      "Or set `cmd` in require('deepthink').setup({ cmd = { '/path/to/deepthink-lsp' } })",
    })
    return false
  end
  report.ok(('server: %s'):format(path))
  local command = vim.list_extend(vim.deepcopy(cmd), { '--version' })
  local output = vim.fn.system(command)
  if vim.v.shell_error == 0 then
    report.ok('version: ' .. vim.trim(output))
  else
    report.warn(('`%s --version` failed: %s'):format(table.concat(cmd, ' '), vim.trim(output)))
  end
  return true
end

local function is_loopback(host)
  return host == 'localhost' or host == '::1' or host:match('^127%.') ~= nil
end

local function parse_url(url)
  local scheme, host, port = url:match('^(%a+)://%[([^%]]+)%]:?(%d*)') -- [IPv6]
  if scheme == nil then
    scheme, host, port = url:match('^(%a+)://([^/:]+):?(%d*)')
  end
  if scheme == nil then
    return nil
  end
  if port == '' then
    port = scheme == 'https' and '443' or '80'
  end
  return host, tonumber(port)
end

local function check_key(base_url)
  local named, source = provider_value('api_key_env', {}, nil)
  local names = named and { named } or { 'DEEPTHINK_API_KEY', 'OPENAI_API_KEY' }
  for _, name in ipairs(names) do
    if nonempty(vim.env[name]) then
      report.ok(('API key: $%s is set'):format(name))
      return
    end
  end
  local host = parse_url(base_url)
  if host ~= nil and is_loopback(host) then
    report.ok('API key: none set, and none needed for a loopback endpoint')
    return
  end
  local where = named and (' (named by provider.api_key_env in ' .. source .. ')') or ''
  report.error(('API key: $%s is not set%s'):format(table.concat(names, ' / $'), where), {
    'Export it in the shell Neovim starts from; the server reads it from its environment only',
  })
end

-- A TCP connection to the endpoint's host and port: enough to tell it is there, without
-- sending anything (let alone the key).
local function connect(host, port)
  local uv = vim.uv or vim.loop -- vim.uv from 0.10
  local addresses = uv.getaddrinfo(host, tostring(port), { socktype = 'stream' })
  if addresses == nil or addresses[1] == nil then
    return false, 'cannot resolve ' .. host
  end
  local tcp = uv.new_tcp()
  local outcome = nil
  tcp:connect(addresses[1].addr, port, function(err)
    outcome = err or true
  end)
  local finished = vim.wait(CONNECT_TIMEOUT_MS, function()
    return outcome ~= nil
  end, 20)
  tcp:close()
  if not finished then
    return false, ('no answer within %d s'):format(CONNECT_TIMEOUT_MS / 1000)
  end
  return outcome == true, outcome ~= true and tostring(outcome) or nil
end

local function check_endpoint()
  local base_url, source =
    provider_value('base_url', { 'DEEPTHINK_BASE_URL', 'OPENAI_BASE_URL' }, DEFAULT_BASE_URL)
  report.info(('endpoint: %s (from %s)'):format(base_url, source))
  local host, port = parse_url(base_url)
  if host == nil then
    report.error(('endpoint: %q is not a URL such as http://localhost:11434/v1'):format(base_url))
    return base_url
  end
  local reached, problem = connect(host, port)
  if reached then
    report.ok(('endpoint reachable: %s:%d accepts connections'):format(host, port))
  else
    report.error(('endpoint unreachable: %s:%d: %s'):format(host, port, problem), {
      'Check that the server is running, or set provider.base_url (or $DEEPTHINK_BASE_URL)',
    })
  end
  return base_url
end

local function check_clients()
  if not config.configured then
    report.warn("require('deepthink').setup() has not been called: the server is not started")
    return
  end
  local clients = require('deepthink.compat').clients()
  if #clients == 0 then
    report.info('no server running yet: one starts with the first file buffer')
  end
  for _, client in ipairs(clients) do
    report.ok(('running: client %d, workspace %s'):format(client.id, client.config.root_dir or '?'))
  end
end

function M.check()
  report.start('deepthink')
  if check_server() then
    check_clients()
  end
  local base_url = check_endpoint()
  check_key(base_url)
end

return M
