# annotate/module.mk - the annotation database schema (schemas/annotate.sql) is compiled into the
# binary as a C string, so the file in schemas/ is the one source of truth for migrations.
$(BUILD)/annotate/annotate_sql.inc: schemas/annotate.sql annotate/module.mk
	@mkdir -p $(dir $@)
	@sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@.tmp && mv $@.tmp $@
$(BUILD)/annotate/annotate_db.o: $(BUILD)/annotate/annotate_sql.inc
