-- Poll positions must never see a number twice. MAX(seq)+1 gave the
-- numbers of messages retention had deleted again, below the position of a
-- consumer that had read them, so it missed the new messages for good.
-- message_seq holds the highest number ever given; deletes leave it alone.
CREATE TABLE message_seq (n INTEGER NOT NULL);
INSERT INTO message_seq (n) SELECT COALESCE(MAX(seq), 0) FROM messages;
-- The insert reads n + 1 and this trigger raises n, in the insert's own
-- statement: no second statement through the driver per publish (as an
-- UPDATE ... RETURNING would be), and a rolled-back publish lowers n again
-- with its row, so a number is only ever reused when no one could see it.
-- Rows inserted without seq (NULL) leave n as it is.
CREATE TRIGGER messages_seq_high AFTER INSERT ON messages
BEGIN
    UPDATE message_seq SET n = NEW.seq WHERE n < NEW.seq;
END;
