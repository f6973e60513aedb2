//! Copying one table's rows from SQLite into PostgreSQL, a page at a time, inside the
//! migration's one PostgreSQL transaction. Which columns go where, and as what type, is read
//! from both databases' own descriptions of the table and checked against [`super::tables`]
//! before a row moves: a column either side does not expect stops the migration with its
//! name instead of being dropped or guessed.

use sqlx::postgres::{PgConnection, Postgres};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row};

use super::MigrateError;
use super::tables::{Conversion, ROWID_COLUMN, conversion, not_copied};

/// Rows read from SQLite and written to PostgreSQL per statement (fewer for wide tables:
/// PostgreSQL binds at most 65535 values per statement).
const PAGE: usize = 1000;
const MAX_BINDS: usize = 65535;

/// One column copied.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    conversion: Conversion,
}

/// How one table is copied.
#[derive(Debug)]
pub(crate) struct TablePlan {
    pub(crate) table: &'static str,
    columns: Vec<Column>,
    /// PostgreSQL's `seq` (an identity column) takes SQLite's `rowid`, keeping the rows' order.
    rowid_as_seq: bool,
}

/// A column as PostgreSQL describes it.
struct PgColumn {
    name: String,
    data_type: String,
    /// Nullable, with a default, or generated: a row without it still goes in.
    optional: bool,
    identity: bool,
}

/// Reads both descriptions of `table` and decides how each column moves.
pub(crate) async fn plan(
    sqlite: &SqlitePool,
    pg: &mut PgConnection,
    table: &'static str,
) -> Result<TablePlan, MigrateError> {
    let sqlite_columns: Vec<(String, String)> =
        sqlx::query("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
            .bind(table)
            .fetch_all(sqlite)
            .await
            .map_err(|e| MigrateError::read(table, e))?
            .iter()
            .map(|r| (r.get("name"), r.get("type")))
            .collect();
    let pg_columns: Vec<PgColumn> = sqlx::query(
        "SELECT column_name::TEXT AS name, data_type::TEXT AS data_type, \
         (is_nullable = 'YES' OR column_default IS NOT NULL OR is_identity = 'YES') AS optional, \
         is_identity = 'YES' AS identity \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *pg)
    .await
    .map_err(|e| MigrateError::write(table, e))?
    .iter()
    .map(|r| PgColumn {
        name: r.get("name"),
        data_type: r.get("data_type"),
        optional: r.get("optional"),
        identity: r.get("identity"),
    })
    .collect();
    decide(table, &sqlite_columns, &pg_columns)
}

/// The plan for `table` from both column lists (pure).
fn decide(table: &'static str, sqlite: &[(String, String)], pg: &[PgColumn]) -> Result<TablePlan, MigrateError> {
    let schema = |column: &str, why: String| MigrateError::Schema { table, column: column.to_string(), why };
    if sqlite.is_empty() || pg.is_empty() {
        let side = if sqlite.is_empty() { "SQLite" } else { "PostgreSQL" };
        return Err(schema("*", format!("the table does not exist in {side}")));
    }
    let mut columns = Vec::new();
    for (name, sqlite_type) in sqlite {
        if not_copied(table, name) {
            continue;
        }
        let target =
            pg.iter().find(|c| &c.name == name).ok_or_else(|| schema(name, "PostgreSQL has no such column".into()))?;
        let conversion = conversion(sqlite_type, &target.data_type).ok_or_else(|| {
            schema(name, format!("no conversion from SQLite {sqlite_type} to PostgreSQL {}", target.data_type))
        })?;
        columns.push(Column { name: name.clone(), conversion });
    }
    let mut rowid_as_seq = false;
    for c in pg.iter().filter(|c| !sqlite.iter().any(|(name, _)| name == &c.name)) {
        if c.name == ROWID_COLUMN && c.identity {
            rowid_as_seq = true;
        } else if !c.optional {
            return Err(schema(&c.name, "SQLite has no such column and PostgreSQL needs a value".into()));
        }
    }
    Ok(TablePlan { table, columns, rowid_as_seq })
}

/// A value on its way.
enum Value {
    Text(Option<String>),
    Integer(Option<i64>),
    Flag(Option<bool>),
}

/// Copies every row of the planned table, in `rowid` order; returns how many.
pub(crate) async fn copy(sqlite: &SqlitePool, pg: &mut PgConnection, plan: &TablePlan) -> Result<u64, MigrateError> {
    let table = plan.table;
    let list: Vec<String> = plan.columns.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let select = format!(
        "SELECT rowid AS \"__rowid\", {} FROM \"{table}\" WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        list.join(", ")
    );
    let width = plan.columns.len() + usize::from(plan.rowid_as_seq);
    let page = PAGE.min(MAX_BINDS / width.max(1));
    let insert = format!(
        "INSERT INTO \"{table}\" ({}{}){} ",
        if plan.rowid_as_seq { format!("\"{ROWID_COLUMN}\", ") } else { String::new() },
        list.join(", "),
        if plan.rowid_as_seq { " OVERRIDING SYSTEM VALUE" } else { "" }
    );
    let (mut after, mut copied) = (i64::MIN, 0u64);
    loop {
        let rows = sqlx::query(&select)
            .bind(after)
            .bind(page as i64)
            .fetch_all(sqlite)
            .await
            .map_err(|e| MigrateError::read(table, e))?;
        let Some(last) = rows.last() else { break };
        after = last.get("__rowid");
        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut v = Vec::with_capacity(width);
            if plan.rowid_as_seq {
                v.push(Value::Integer(Some(row.get("__rowid"))));
            }
            for (i, c) in plan.columns.iter().enumerate() {
                let read = |e| MigrateError::read(table, e);
                // Column 0 is the rowid.
                v.push(match c.conversion {
                    Conversion::Text => Value::Text(row.try_get(i + 1).map_err(read)?),
                    Conversion::Integer => Value::Integer(row.try_get(i + 1).map_err(read)?),
                    Conversion::Flag => {
                        Value::Flag(row.try_get::<Option<i64>, _>(i + 1).map_err(read)?.map(|n| n != 0))
                    }
                });
            }
            values.push(v);
        }
        let mut q = QueryBuilder::<Postgres>::new(&insert);
        q.push_values(values, |mut b, row| {
            for value in row {
                match value {
                    Value::Text(t) => b.push_bind(t),
                    Value::Integer(n) => b.push_bind(n),
                    Value::Flag(f) => b.push_bind(f),
                };
            }
        });
        q.build().execute(&mut *pg).await.map_err(|e| MigrateError::write(table, e))?;
        copied += rows.len() as u64;
    }
    if plan.rowid_as_seq {
        // New rows continue after the copied ones.
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence($1, '{ROWID_COLUMN}'), \
             (SELECT COALESCE(MAX(\"{ROWID_COLUMN}\"), 0) + 1 FROM \"{table}\"), false)"
        ))
        .bind(table)
        .execute(&mut *pg)
        .await
        .map_err(|e| MigrateError::write(table, e))?;
    }
    Ok(copied)
}

/// Rows of `table` in SQLite.
pub(crate) async fn sqlite_count(sqlite: &SqlitePool, table: &'static str) -> Result<u64, MigrateError> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
        .fetch_one(sqlite)
        .await
        .map_err(|e| MigrateError::read(table, e))?;
    Ok(n as u64)
}

/// Rows of `table` in PostgreSQL, as `pg` sees them.
pub(crate) async fn pg_count(pg: &mut PgConnection, table: &'static str) -> Result<u64, MigrateError> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
        .fetch_one(&mut *pg)
        .await
        .map_err(|e| MigrateError::write(table, e))?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(name: &str, data_type: &str, optional: bool, identity: bool) -> PgColumn {
        PgColumn { name: name.into(), data_type: data_type.into(), optional, identity }
    }

    fn sqlite(cols: &[(&str, &str)]) -> Vec<(String, String)> {
        cols.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect()
    }

    #[test]
    fn rowid_fills_seq_flags_become_booleans_and_a_dropped_column_stays_behind() {
        let plan = decide(
            "messages",
            &sqlite(&[("id", "TEXT"), ("smtputf8", "INTEGER"), ("size", "INTEGER"), ("attachments", "INTEGER")]),
            &[
                pg("seq", "bigint", true, true),
                pg("id", "text", false, false),
                pg("smtputf8", "boolean", false, false),
                pg("size", "bigint", false, false),
                pg("claimed_by", "text", true, false),
            ],
        )
        .unwrap();
        assert!(plan.rowid_as_seq);
        assert_eq!(
            plan.columns.iter().map(|c| (c.name.as_str(), c.conversion)).collect::<Vec<_>>(),
            [("id", Conversion::Text), ("smtputf8", Conversion::Flag), ("size", Conversion::Integer)]
        );
    }

    #[test]
    fn a_column_either_side_does_not_expect_is_named() {
        let e = decide("links", &sqlite(&[("new_thing", "TEXT")]), &[pg("x", "text", true, false)]).unwrap_err();
        assert!(e.to_string().contains("links.new_thing") && e.to_string().contains("PostgreSQL has no"), "{e}");
        let e = decide(
            "links",
            &sqlite(&[("x", "TEXT")]),
            &[pg("x", "text", false, false), pg("required", "text", false, false)],
        )
        .unwrap_err();
        assert!(e.to_string().contains("links.required"), "{e}");
        let e = decide("links", &sqlite(&[("x", "TEXT")]), &[pg("x", "bigint", false, false)]).unwrap_err();
        assert!(e.to_string().contains("SQLite TEXT to PostgreSQL bigint"), "{e}");
        let e = decide("gone", &[], &[pg("x", "text", false, false)]).unwrap_err();
        assert!(e.to_string().contains("does not exist in SQLite"), "{e}");
    }
}
