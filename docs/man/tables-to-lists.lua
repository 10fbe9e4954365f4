-- pandoc filter for the man pages: a man page is read 80 columns wide, where docs/config.md's
-- six-column tables do not fit (groff: "table wider than line width"). Each table row becomes
-- a definition list item: the first cell is the term; the "meaning" cell (if any) is the first
-- paragraph; the other cells follow as one paragraph "heading: value; heading: value".
local stringify = pandoc.utils.stringify

function Table(t)
  local heads = {}
  for i, cell in ipairs(t.head.rows[1].cells) do
    heads[i] = stringify(cell.contents)
  end
  local items = {}
  for _, body in ipairs(t.bodies) do
    for _, row in ipairs(body.body) do
      local term = pandoc.utils.blocks_to_inlines(row.cells[1].contents)
      local meaning = pandoc.List()
      local rest = pandoc.List()
      for i = 2, #row.cells do
        local inl = pandoc.utils.blocks_to_inlines(row.cells[i].contents)
        if #inl > 0 then
          if heads[i] == "meaning" then
            meaning:extend(inl)
          else
            if #rest > 0 then
              rest:extend({ pandoc.Str(";"), pandoc.Space() })
            end
            rest:extend({ pandoc.Emph({ pandoc.Str(heads[i] .. ":") }), pandoc.Space() })
            rest:extend(inl)
          end
        end
      end
      local def = pandoc.List()
      if #meaning > 0 then def:insert(pandoc.Para(meaning)) end
      if #rest > 0 then def:insert(pandoc.Para(rest)) end
      table.insert(items, { term, { def } })
    end
  end
  return pandoc.DefinitionList(items)
end
