-- :DeepThinkResult: the last result as markdown, in a floating window or a split.
local compat = require('deepthink.compat')

local M = {}

local BUFFER_NAME = 'deepthink://result'

local function in_float(lines)
  vim.lsp.util.open_floating_preview(lines, 'markdown', {
    border = 'rounded',
    focus_id = 'deepthink-result',
    max_width = math.max(40, math.floor(vim.o.columns * 0.8)),
    max_height = math.max(10, math.floor(vim.o.lines * 0.8)),
  })
end

local function in_split(lines, vertical)
  local bufnr = vim.fn.bufnr(BUFFER_NAME)
  if bufnr == -1 then
    bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(bufnr, BUFFER_NAME)
    vim.bo[bufnr].filetype = 'markdown'
  end
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  local window = vim.fn.bufwinid(bufnr)
  if window == -1 then
    vim.cmd(vertical and 'botright vsplit' or 'botright split')
    window = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(window, bufnr)
  end
  vim.api.nvim_set_current_win(window)
end

function M.open(lines, how)
  if how == 'float' then
    in_float(lines)
  else
    in_split(lines, how == 'vsplit')
  end
end

--- The hover at the cursor, as markdown lines; `done(lines or nil)`.
local function hover_lines(client, bufnr, done)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  compat.request(client, 'textDocument/hover', params, function(err, result)
    if err ~= nil or result == nil or result.contents == nil then
      return done(nil)
    end
    local lines = vim.lsp.util.convert_input_to_markdown_lines(result.contents)
    local text = vim.trim(table.concat(lines, '\n'))
    done(text ~= '' and compat.split_lines(text) or nil)
  end, bufnr)
end

--- The last result for the buffer (`deepthink.result`), else the hover at the cursor.
function M.show(client, bufnr, how)
  local arguments = { { uri = vim.uri_from_bufnr(bufnr) } }
  compat.execute(client, bufnr, 'deepthink.result', arguments, function(err, result)
    if
      err == nil
      and type(result) == 'table'
      and type(result.markdown) == 'string'
      and result.markdown ~= ''
    then
      return M.open(compat.split_lines(result.markdown), how)
    end
    hover_lines(client, bufnr, function(lines)
      if lines == nil then
        vim.notify(
          'deepthink: no result for this file yet (and none at the cursor)',
          vim.log.levels.INFO
        )
        return
      end
      M.open(lines, how)
    end)
  end)
end

return M
