-- Migration 0021 left 30 % of each `groups` page free so that a members' version bump
-- stays on its page (a HOT update, no new index entries). A first sync bumps every
-- group of a message in one statement, and a page then needs room for a second version
-- of each of its rows: at 70 % only 38 % of the bumps of 10 000 new groups were HOT (a
-- scratch database: 85 ms for the 20 statements), each other one a new entry in the
-- table's four indexes, unique checks included. With more than half of each page free
-- every one is HOT (28 ms). The table is twice as large, a few megabytes for 10 000
-- groups. Only pages written from now on keep the room.
ALTER TABLE groups SET (fillfactor = 45);
