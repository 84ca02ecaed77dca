"""UN DESA International Migrant Stock: staged workbook and the migration corridors."""
