//! A program definition and how it is built from a workbook's sheets, with every problem reported at once.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{AnswerProblem, DefinitionError, DefinitionProblem};
use crate::expr::{Expr, Function, compile_regex, is_valid_name};
use crate::sheet::{Sheet, SheetRow, normalize_header};
use crate::value::{Value, parse_date, parse_number};
use crate::{ApprovalStep, Level, Localized, context_var};

/// A parsed program definition: the program's identity and workflow settings, its questionnaire and its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramDefinition {
    /// The program code (`form_id`), e.g. `elderly`.
    pub code: String,
    /// The operator's version string for this definition.
    pub version: String,
    pub title: Localized,
    /// Who owns the program, e.g. `NSAF`, `MoSVY`, `MoP`.
    pub operator: String,
    pub level: Level,
    /// The approval chain, in order; never empty.
    pub approval: Vec<ApprovalStep>,
    /// The name of the operator endpoint the platform delivers enrolments to.
    pub delivery: String,
    pub default_language: Option<String>,
    /// The calculate row whose value is the questionnaire's score, if it scores.
    pub score_field: Option<String>,
    /// The calculate row whose value is the questionnaire's status, if it has one.
    pub status_field: Option<String>,
    questions: Vec<Question>,
    groups: Vec<Group>,
    choices: BTreeMap<String, Vec<Choice>>,
    rules: Vec<Rule>,
    /// Question indices in an order where every calculation and relevance comes after what it reads.
    order: Vec<usize>,
}

/// An expression as written in the file and as parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub text: String,
    pub tree: Expr,
}

/// The type of a survey row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionKind {
    Integer,
    Decimal,
    Text,
    Date,
    SelectOne { list: String },
    SelectMultiple { list: String },
    Calculate,
    Note,
    Acknowledge,
}

impl QuestionKind {
    /// The type as written in the `type` column.
    pub fn type_text(&self) -> String {
        match self {
            QuestionKind::Integer => "integer".to_owned(),
            QuestionKind::Decimal => "decimal".to_owned(),
            QuestionKind::Text => "text".to_owned(),
            QuestionKind::Date => "date".to_owned(),
            QuestionKind::SelectOne { list } => format!("select_one {list}"),
            QuestionKind::SelectMultiple { list } => format!("select_multiple {list}"),
            QuestionKind::Calculate => "calculate".to_owned(),
            QuestionKind::Note => "note".to_owned(),
            QuestionKind::Acknowledge => "acknowledge".to_owned(),
        }
    }

    /// The choice list a select question offers.
    pub fn list(&self) -> Option<&str> {
        match self {
            QuestionKind::SelectOne { list } | QuestionKind::SelectMultiple { list } => Some(list),
            _ => None,
        }
    }

    /// Whether a person answers it (not a calculation or a note).
    pub fn is_answerable(&self) -> bool {
        !matches!(self, QuestionKind::Calculate | QuestionKind::Note)
    }
}

/// One survey row other than a group: what a portal renders, and what the evaluator checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub name: String,
    pub kind: QuestionKind,
    pub label: Localized,
    pub hint: Option<Localized>,
    pub required: bool,
    pub required_message: Option<Localized>,
    /// The row's own `relevant`; the enclosing groups' conditions are in [`Group::relevant`].
    pub relevant: Option<Expression>,
    pub constraint: Option<Expression>,
    pub constraint_message: Option<Localized>,
    pub calculation: Option<Expression>,
    pub default: Option<Value>,
    pub read_only: bool,
    pub choice_filter: Option<Expression>,
    /// The enclosing groups, outermost first.
    pub groups: Vec<String>,
    /// The enclosing groups' `relevant` expressions, outermost first, then the row's own.
    pub(crate) conditions: Vec<Expr>,
}

/// A `begin_group` … `end_group` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub label: Localized,
    pub relevant: Option<Expression>,
    /// The enclosing group, if nested.
    pub parent: Option<String>,
}

/// One choice of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub name: String,
    pub label: Localized,
    /// The `score` column, read by `choice-score()`.
    pub score: Option<f64>,
    /// Other columns of the choices sheet (for `choice_filter`), by header.
    pub columns: BTreeMap<String, String>,
}

/// An eligibility rule: the program is open to those for whom every rule holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub label: Localized,
    pub rule: Expression,
}

impl ProgramDefinition {
    /// Every survey row except groups, in file order.
    pub fn questions(&self) -> &[Question] {
        &self.questions
    }

    pub fn question(&self, name: &str) -> Option<&Question> {
        self.questions.iter().find(|question| question.name == name)
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The choices of a list, in file order.
    pub fn choices(&self, list: &str) -> Option<&[Choice]> {
        self.choices.get(list).map(Vec::as_slice)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(crate) fn evaluation_order(&self) -> impl Iterator<Item = &Question> {
        self.order
            .iter()
            .filter_map(|index| self.questions.get(*index))
    }

    /// Reads an answer typed as text (a web form's string) into the value the question's type calls for:
    /// `integer` and `decimal` numbers, `date` as `YYYY-MM-DD`, a choice name for `select_one`, space-separated
    /// choice names for `select_multiple`, `OK` (or yes/true) for `acknowledge`. Blank text is `Empty`.
    pub fn answer_from_text(&self, field: &str, text: &str) -> Result<Value, AnswerProblem> {
        let Some(question) = self.question(field) else {
            return Err(AnswerProblem {
                field: field.to_owned(),
                message: crate::evaluate::messages::unknown_field(),
            });
        };
        if !question.kind.is_answerable() {
            return Err(AnswerProblem {
                field: field.to_owned(),
                message: crate::evaluate::messages::not_answerable(),
            });
        }
        parse_answer(
            &question.kind,
            self.choices(question.kind.list().unwrap_or(""))
                .unwrap_or(&[]),
            text,
        )
        .map_err(|message| AnswerProblem {
            field: field.to_owned(),
            message,
        })
    }
}

/// Reads text as a value of a question's type; the error says why in both languages.
pub(crate) fn parse_answer(
    kind: &QuestionKind,
    choices: &[Choice],
    text: &str,
) -> Result<Value, Localized> {
    use crate::evaluate::messages;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Value::Empty);
    }
    match kind {
        QuestionKind::Integer => trimmed
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| messages::not_integer(trimmed)),
        QuestionKind::Decimal => {
            let number = parse_number(trimmed);
            if number.is_finite() {
                Ok(Value::Decimal(number))
            } else {
                Err(messages::not_number(trimmed))
            }
        }
        QuestionKind::Text => Ok(Value::Text(trimmed.to_owned())),
        QuestionKind::Date => parse_date(trimmed)
            .map(Value::Date)
            .ok_or_else(|| messages::not_date(trimmed)),
        QuestionKind::SelectOne { .. } => {
            if choices.iter().any(|choice| choice.name == trimmed) {
                Ok(Value::Text(trimmed.to_owned()))
            } else {
                Err(messages::not_a_choice(trimmed))
            }
        }
        QuestionKind::SelectMultiple { .. } => {
            let mut selected: Vec<String> = Vec::new();
            for name in trimmed.split_whitespace() {
                if !choices.iter().any(|choice| choice.name == name) {
                    return Err(messages::not_a_choice(name));
                }
                if !selected.iter().any(|already| already == name) {
                    selected.push(name.to_owned());
                }
            }
            Ok(Value::Choices(selected))
        }
        QuestionKind::Acknowledge => match trimmed.to_lowercase().as_str() {
            "ok" | "yes" | "true" | "1" => Ok(Value::Text("OK".to_owned())),
            _ => Err(messages::not_acknowledged()),
        },
        QuestionKind::Calculate | QuestionKind::Note => Err(messages::not_answerable()),
    }
}

/// The survey types this crate reads, for the message that rejects others.
const SUPPORTED_TYPES: &str = "integer, decimal, text, date, select_one LIST, select_multiple LIST, calculate, note, acknowledge, begin_group, end_group";

/// Where an expression appears: decides whether `.` and bare column names are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Relevant,
    Constraint,
    Calculation,
    ChoiceFilter,
    Rule,
}

/// An expression waiting for its references to be checked once every name is known.
struct Pending {
    sheet: &'static str,
    row: u32,
    column: String,
    place: Place,
    tree: Expr,
}

struct Builder<'a> {
    problems: Vec<DefinitionProblem>,
    pending: Vec<Pending>,
    sheets: &'a [Sheet],
}

impl Builder<'_> {
    fn problem(&mut self, sheet: &str, row: u32, column: Option<&str>, message: String) {
        self.problems
            .push(DefinitionProblem::at(sheet, row, column, message));
    }

    fn find_sheet(&mut self, name: &str, required: bool) -> Option<&Sheet> {
        let sheets = self.sheets;
        let found = sheets.iter().find(|sheet| sheet.name == name);
        if found.is_none() && required {
            self.problems.push(DefinitionProblem::file(format!(
                "the workbook has no '{name}' sheet"
            )));
        }
        found
    }

    fn require_columns(&mut self, sheet: &Sheet, columns: &[&str]) -> bool {
        let mut all = true;
        for column in columns {
            if sheet.column(column).is_none() {
                self.problems.push(DefinitionProblem::at(
                    &sheet.name,
                    sheet.header_row,
                    None,
                    format!("the '{}' sheet has no '{column}' column", sheet.name),
                ));
                all = false;
            }
        }
        all
    }

    /// Parses an expression cell; a syntax error becomes a problem. Reference checks happen later.
    fn expression(
        &mut self,
        sheet: &'static str,
        header: &Sheet,
        row: &SheetRow,
        column: &str,
        place: Place,
    ) -> Option<Expression> {
        let index = header.column(column)?;
        let text = header.cell(row, Some(index));
        if text.is_empty() {
            return None;
        }
        let column_header = header
            .header
            .get(index)
            .cloned()
            .unwrap_or_else(|| column.to_owned());
        match Expr::parse(text) {
            Ok(tree) => {
                self.pending.push(Pending {
                    sheet,
                    row: row.number,
                    column: column_header,
                    place,
                    tree: tree.clone(),
                });
                Some(Expression {
                    text: text.to_owned(),
                    tree,
                })
            }
            Err(error) => {
                self.problem(
                    sheet,
                    row.number,
                    Some(&column_header),
                    format!("'{text}' does not parse: {error}"),
                );
                None
            }
        }
    }

    fn flag(&mut self, sheet: &Sheet, row: &SheetRow, column: &str) -> bool {
        let index = sheet.column(column);
        let text = sheet.cell(row, index);
        match text.to_lowercase().as_str() {
            "" | "no" | "false" | "0" | "false()" => false,
            "yes" | "true" | "1" | "true()" => true,
            _ => {
                let header = index
                    .and_then(|index| sheet.header.get(index))
                    .map_or(column, String::as_str)
                    .to_owned();
                self.problem(
                    &sheet.name,
                    row.number,
                    Some(&header),
                    format!("'{text}' is not yes or no (write yes, no, true, false, 1 or 0)"),
                );
                false
            }
        }
    }
}

/// Columns holding one text per language: `label`, `label::English (en)`, `label::Khmer (km)` and the like.
struct LanguageColumns {
    en: Option<usize>,
    km: Option<usize>,
}

fn language_columns(sheet: &Sheet, base: &str) -> LanguageColumns {
    let mut en = None;
    let mut km = None;
    let mut plain = None;
    for (index, header) in sheet.header.iter().enumerate() {
        let normalized = normalize_header(header);
        if normalized == base {
            plain = Some(index);
            continue;
        }
        let Some((column_base, language)) = normalized.split_once("::") else {
            continue;
        };
        if column_base != base {
            continue;
        }
        let language = language.to_lowercase();
        if language.contains("(en)") || language.starts_with("english") || language == "en" {
            en = Some(index);
        } else if language.contains("(km)") || language.starts_with("khmer") || language == "km" {
            km = Some(index);
        }
    }
    LanguageColumns {
        en: en.or(plain),
        km,
    }
}

fn localized(sheet: &Sheet, row: &SheetRow, columns: &LanguageColumns) -> Option<Localized> {
    let en = sheet.cell(row, columns.en);
    let km = sheet.cell(row, columns.km);
    match (en.is_empty(), km.is_empty()) {
        (true, true) => None,
        (false, true) => Some(Localized::new(en, en)),
        (true, false) => Some(Localized::new(km, km)),
        (false, false) => Some(Localized::new(en, km)),
    }
}

/// Builds a definition from sheets, or reports every problem found.
pub(crate) fn build(sheets: &[Sheet]) -> Result<ProgramDefinition, DefinitionError> {
    let mut builder = Builder {
        problems: Vec::new(),
        pending: Vec::new(),
        sheets,
    };
    for sheet in sheets.iter().filter(|sheet| {
        matches!(
            sheet.name.as_str(),
            "settings" | "survey" | "choices" | "eligibility"
        )
    }) {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for header in sheet.header.iter().filter(|header| !header.is_empty()) {
            if !seen.insert(normalize_header(header)) {
                builder.problem(
                    &sheet.name,
                    sheet.header_row,
                    Some(header),
                    format!("column '{header}' appears twice; only the first would be read"),
                );
            }
        }
    }
    let settings = read_settings(&mut builder);
    let choices = read_choices(&mut builder);
    let (questions, groups, rows) = read_survey(&mut builder, &choices);
    let rules = read_eligibility(&mut builder);
    check_references(&mut builder, &questions, &groups);
    let order = evaluation_order(&mut builder, &questions, &rows);
    if let Some(settings) = &settings {
        for (column, field) in [
            ("score_field", &settings.score_field),
            ("status_field", &settings.status_field),
        ] {
            if let Some(field) = field
                && !questions.iter().any(|question| {
                    &question.name == field && question.kind == QuestionKind::Calculate
                })
            {
                builder.problem(
                    "settings",
                    settings.row,
                    Some(column),
                    format!("'{field}' is not the name of a calculate row in the survey"),
                );
            }
        }
    }
    match settings {
        Some(settings) if builder.problems.is_empty() => Ok(ProgramDefinition {
            code: settings.code,
            version: settings.version,
            title: settings.title,
            operator: settings.operator,
            level: settings.level,
            approval: settings.approval,
            delivery: settings.delivery,
            default_language: settings.default_language,
            score_field: settings.score_field,
            status_field: settings.status_field,
            questions,
            groups,
            choices,
            rules,
            order,
        }),
        _ => {
            let mut problems = builder.problems;
            // Sheet by sheet in the order a person reads the workbook, then by row; stable within a row.
            let rank = |sheet: &str| match sheet {
                "" => 0,
                "settings" => 1,
                "survey" => 2,
                "choices" => 3,
                "eligibility" => 4,
                _ => 5,
            };
            problems.sort_by_key(|problem| (rank(&problem.sheet), problem.row.unwrap_or(0)));
            if problems.is_empty() {
                problems.push(DefinitionProblem::sheet(
                    "settings",
                    "the settings could not be read".to_owned(),
                ));
            }
            Err(DefinitionError { problems })
        }
    }
}

struct Settings {
    row: u32,
    code: String,
    version: String,
    title: Localized,
    operator: String,
    level: Level,
    approval: Vec<ApprovalStep>,
    delivery: String,
    default_language: Option<String>,
    score_field: Option<String>,
    status_field: Option<String>,
}

fn read_settings(builder: &mut Builder<'_>) -> Option<Settings> {
    let sheet = builder.find_sheet("settings", true)?.clone();
    builder.require_columns(
        &sheet,
        &[
            "form_id", "version", "operator", "level", "approval", "delivery",
        ],
    );
    let Some(row) = sheet.rows.first() else {
        builder.problems.push(DefinitionProblem::sheet(
            "settings",
            "the settings sheet has no row under its header".to_owned(),
        ));
        return None;
    };
    for extra in sheet.rows.iter().skip(1) {
        builder.problem(
            "settings",
            extra.number,
            None,
            "the settings sheet must have exactly one row under its header".to_owned(),
        );
    }
    let mut complete = true;
    let mut text = |builder: &mut Builder<'_>, column: &str, required: bool| -> String {
        let value = sheet.cell(row, sheet.column(column)).to_owned();
        if value.is_empty() && required && sheet.column(column).is_some() {
            builder.problem(
                "settings",
                row.number,
                Some(column),
                format!("{column} is required"),
            );
            complete = false;
        }
        value
    };
    let code = text(builder, "form_id", true);
    let version = text(builder, "version", true);
    let operator = text(builder, "operator", true);
    let level_text = text(builder, "level", true);
    let approval_text = text(builder, "approval", true);
    let delivery = text(builder, "delivery", true);
    let default_language =
        Some(text(builder, "default_language", false)).filter(|language| !language.is_empty());
    let score_field = Some(text(builder, "score_field", false)).filter(|field| !field.is_empty());
    let status_field = Some(text(builder, "status_field", false)).filter(|field| !field.is_empty());
    let valid_code = code.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !code.is_empty() && !valid_code {
        builder.problem(
            "settings",
            row.number,
            Some("form_id"),
            format!("'{code}' is not a program code: use lower-case letters, digits and '_', starting with a letter"),
        );
        complete = false;
    }
    let level = Level::parse(&level_text);
    if level.is_none() && !level_text.is_empty() {
        builder.problem(
            "settings",
            row.number,
            Some("level"),
            format!("'{level_text}' is not a level: write person or household"),
        );
    }
    let mut approval = Vec::new();
    for word in approval_text.split_whitespace() {
        match ApprovalStep::parse(word) {
            Some(step) if approval.contains(&step) => {
                builder.problem(
                    "settings",
                    row.number,
                    Some("approval"),
                    format!("approval step '{word}' appears twice"),
                );
            }
            Some(step) => approval.push(step),
            None => {
                let known: Vec<&str> = ApprovalStep::ALL.iter().map(|step| step.as_str()).collect();
                builder.problem(
                    "settings",
                    row.number,
                    Some("approval"),
                    format!("'{word}' is not an approval step; use {}", known.join(", ")),
                );
            }
        }
    }
    let title_columns = language_columns(&sheet, "form_title");
    let title =
        localized(&sheet, row, &title_columns).unwrap_or_else(|| Localized::new(&code, &code));
    let level = level?;
    if approval.is_empty() || !complete {
        return None;
    }
    Some(Settings {
        row: row.number,
        code,
        version,
        title,
        operator,
        level,
        approval,
        delivery,
        default_language,
        score_field,
        status_field,
    })
}

/// Columns of the choices sheet that are not extra data for `choice_filter`.
fn is_standard_choice_column(header: &str) -> bool {
    let normalized = normalize_header(header);
    let base = normalized.split("::").next().unwrap_or("");
    matches!(
        base,
        "list_name"
            | "list name"
            | "name"
            | "label"
            | "score"
            | "image"
            | "audio"
            | "video"
            | "media"
    )
}

fn read_choices(builder: &mut Builder<'_>) -> BTreeMap<String, Vec<Choice>> {
    let mut lists: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
    let Some(sheet) = builder.find_sheet("choices", false).cloned() else {
        return lists;
    };
    if !builder.require_columns(&sheet, &["list_name", "name"]) {
        return lists;
    }
    let list_column = sheet.column("list_name");
    let name_column = sheet.column("name");
    let score_column = sheet.column("score");
    let labels = language_columns(&sheet, "label");
    let mut seen: BTreeMap<(String, String), u32> = BTreeMap::new();
    for row in &sheet.rows {
        let list = sheet.cell(row, list_column).to_owned();
        let name = sheet.cell(row, name_column).to_owned();
        if list.is_empty() {
            builder.problem(
                "choices",
                row.number,
                Some("list_name"),
                "list_name is empty".to_owned(),
            );
            continue;
        }
        if !is_valid_name(&list) {
            builder.problem(
                "choices",
                row.number,
                Some("list_name"),
                format!("'{list}' is not a valid list name"),
            );
        }
        if name.is_empty() {
            builder.problem(
                "choices",
                row.number,
                Some("name"),
                format!("a choice of list '{list}' has no name"),
            );
            continue;
        }
        if name.chars().any(char::is_whitespace) {
            builder.problem(
                "choices",
                row.number,
                Some("name"),
                format!("choice name '{name}' contains a space (select_multiple answers are space-separated)"),
            );
        }
        if let Some(first) = seen.insert((list.clone(), name.clone()), row.number) {
            builder.problem(
                "choices",
                row.number,
                Some("name"),
                format!("choice '{name}' appears twice in list '{list}' (first on row {first})"),
            );
            continue;
        }
        let Some(label) = localized(&sheet, row, &labels) else {
            builder.problem(
                "choices",
                row.number,
                Some("label"),
                format!("choice '{name}' of list '{list}' has no label"),
            );
            continue;
        };
        let score_text = sheet.cell(row, score_column);
        let score = if score_text.is_empty() {
            None
        } else {
            let number = parse_number(score_text);
            if !number.is_finite() {
                builder.problem(
                    "choices",
                    row.number,
                    Some("score"),
                    format!("score '{score_text}' is not a number"),
                );
            }
            Some(number)
        };
        let columns = sheet
            .header
            .iter()
            .enumerate()
            .filter(|(_, header)| !header.is_empty() && !is_standard_choice_column(header))
            .map(|(index, header)| (header.clone(), sheet.cell(row, Some(index)).to_owned()))
            .collect();
        lists.entry(list).or_default().push(Choice {
            name,
            label,
            score,
            columns,
        });
    }
    lists
}

enum RowType {
    Question(QuestionKind),
    BeginGroup,
    EndGroup,
}

fn parse_type(text: &str) -> Result<RowType, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let simple = |kind: QuestionKind| {
        if words.len() == 1 {
            Ok(RowType::Question(kind))
        } else {
            Err(format!("type '{text}' has extra words"))
        }
    };
    match words.as_slice() {
        ["integer"] | ["int"] => simple(QuestionKind::Integer),
        ["decimal"] => simple(QuestionKind::Decimal),
        ["text"] | ["string"] => simple(QuestionKind::Text),
        ["date"] => simple(QuestionKind::Date),
        ["calculate"] => simple(QuestionKind::Calculate),
        ["note"] => simple(QuestionKind::Note),
        ["acknowledge"] => simple(QuestionKind::Acknowledge),
        ["begin_group"] | ["begin", "group"] => Ok(RowType::BeginGroup),
        ["end_group"] | ["end", "group"] => Ok(RowType::EndGroup),
        ["select_one", list] => Ok(RowType::Question(QuestionKind::SelectOne {
            list: (*list).to_owned(),
        })),
        ["select_multiple", list] => Ok(RowType::Question(QuestionKind::SelectMultiple {
            list: (*list).to_owned(),
        })),
        ["select_one"] | ["select_multiple"] => Err(format!(
            "type '{text}' needs a choice list name, e.g. '{text} yes_no'"
        )),
        ["begin_repeat"] | ["begin", "repeat"] | ["end_repeat"] | ["end", "repeat"] => {
            Err(format!(
                "type '{text}' is not supported: repeats are not supported in program definitions (one application \
             line is one person or one household; the platform supplies household facts as context)"
            ))
        }
        _ => Err(format!(
            "type '{text}' is not supported; use one of: {SUPPORTED_TYPES}"
        )),
    }
}

/// Reads the survey: its questions, its groups and each question's row number.
fn read_survey(
    builder: &mut Builder<'_>,
    choices: &BTreeMap<String, Vec<Choice>>,
) -> (Vec<Question>, Vec<Group>, Vec<u32>) {
    let mut questions: Vec<Question> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut rows: Vec<u32> = Vec::new();
    let Some(sheet) = builder.find_sheet("survey", true).cloned() else {
        return (questions, groups, rows);
    };
    if !builder.require_columns(&sheet, &["type", "name"]) {
        return (questions, groups, rows);
    }
    let type_column = sheet.column("type");
    let name_column = sheet.column("name");
    let labels = language_columns(&sheet, "label");
    let hints = language_columns(&sheet, "hint");
    let required_messages = language_columns(&sheet, "required_message");
    let constraint_messages = language_columns(&sheet, "constraint_message");
    // Open groups: (name, row, relevant tree).
    let mut open: Vec<(String, u32, Option<Expr>)> = Vec::new();
    let mut names: BTreeMap<String, u32> = BTreeMap::new();
    for row in &sheet.rows {
        let type_text = sheet.cell(row, type_column).to_owned();
        let name = sheet.cell(row, name_column).to_owned();
        if type_text.is_empty() {
            builder.problem(
                "survey",
                row.number,
                Some("type"),
                format!("row '{name}' has no type"),
            );
            continue;
        }
        let row_type = match parse_type(&type_text) {
            Ok(row_type) => row_type,
            Err(message) => {
                builder.problem("survey", row.number, Some("type"), message);
                continue;
            }
        };
        if matches!(row_type, RowType::EndGroup) {
            if open.pop().is_none() {
                builder.problem(
                    "survey",
                    row.number,
                    Some("type"),
                    "end_group without a begin_group before it".to_owned(),
                );
            }
            continue;
        }
        let name_ok = if name.is_empty() {
            builder.problem(
                "survey",
                row.number,
                Some("name"),
                format!("a '{type_text}' row has no name"),
            );
            false
        } else if !is_valid_name(&name) {
            builder.problem(
                "survey",
                row.number,
                Some("name"),
                format!("'{name}' is not a valid name: start with a letter or '_', then letters, digits, '_', '-' or '.'"),
            );
            false
        } else if context_var(&name).is_some() {
            builder.problem(
                "survey",
                row.number,
                Some("name"),
                format!("'{name}' is a context fact the platform supplies; choose another name"),
            );
            false
        } else if let Some(first) = names.get(&name) {
            builder.problem(
                "survey",
                row.number,
                Some("name"),
                format!("name '{name}' is used twice (first on row {first})"),
            );
            false
        } else {
            names.insert(name.clone(), row.number);
            true
        };
        let label = localized(&sheet, row, &labels);
        let relevant = builder.expression("survey", &sheet, row, "relevant", Place::Relevant);
        let group_conditions: Vec<Expr> = open
            .iter()
            .filter_map(|(_, _, condition)| condition.clone())
            .collect();
        let group_names: Vec<String> = open.iter().map(|(name, _, _)| name.clone()).collect();
        let kind = match row_type {
            RowType::BeginGroup => {
                groups.push(Group {
                    name: name.clone(),
                    label: label.unwrap_or_default(),
                    relevant: relevant.clone(),
                    parent: group_names.last().cloned(),
                });
                open.push((name, row.number, relevant.map(|expression| expression.tree)));
                continue;
            }
            RowType::EndGroup => continue,
            RowType::Question(kind) => kind,
        };
        if let Some(list) = kind.list()
            && !choices.contains_key(list)
        {
            builder.problem(
                "survey",
                row.number,
                Some("type"),
                format!("choice list '{list}' does not exist in the choices sheet"),
            );
        }
        let needs_label = !matches!(kind, QuestionKind::Calculate);
        if needs_label && label.is_none() {
            builder.problem(
                "survey",
                row.number,
                Some("label"),
                format!("'{name}' has no label"),
            );
        }
        let constraint = builder.expression("survey", &sheet, row, "constraint", Place::Constraint);
        let calculation =
            builder.expression("survey", &sheet, row, "calculation", Place::Calculation);
        let choice_filter =
            builder.expression("survey", &sheet, row, "choice_filter", Place::ChoiceFilter);
        let has_calculation = !sheet.cell(row, sheet.column("calculation")).is_empty();
        match (&kind, has_calculation) {
            (QuestionKind::Calculate, false) => {
                builder.problem(
                    "survey",
                    row.number,
                    Some("calculation"),
                    format!("calculate '{name}' has no calculation"),
                );
            }
            (QuestionKind::Calculate, true) => {}
            (_, true) => builder.problem(
                "survey",
                row.number,
                Some("calculation"),
                format!("'{name}' is a {type_text}: only calculate rows have a calculation"),
            ),
            (_, false) => {}
        }
        if choice_filter.is_some() && kind.list().is_none() {
            builder.problem(
                "survey",
                row.number,
                Some("choice_filter"),
                "only select questions have a choice_filter".to_owned(),
            );
        }
        if constraint.is_some() && !kind.is_answerable() {
            builder.problem(
                "survey",
                row.number,
                Some("constraint"),
                format!("'{name}' is not answered, so it cannot have a constraint"),
            );
        }
        let required = builder.flag(&sheet, row, "required");
        if required && !kind.is_answerable() {
            builder.problem(
                "survey",
                row.number,
                Some("required"),
                format!("'{name}' is not answered, so it cannot be required"),
            );
        }
        let read_only = builder.flag(&sheet, row, "read_only");
        let default_text = sheet.cell(row, sheet.column("default"));
        let default = if default_text.is_empty() {
            None
        } else if !kind.is_answerable() {
            builder.problem(
                "survey",
                row.number,
                Some("default"),
                format!("'{name}' is not answered, so it cannot have a default"),
            );
            None
        } else {
            let list_choices = kind
                .list()
                .and_then(|list| choices.get(list))
                .map_or(&[][..], Vec::as_slice);
            match parse_answer(&kind, list_choices, default_text) {
                Ok(value) => Some(value),
                Err(message) => {
                    builder.problem(
                        "survey",
                        row.number,
                        Some("default"),
                        format!("default '{default_text}': {}", message.en),
                    );
                    None
                }
            }
        };
        if !name_ok {
            continue;
        }
        let mut conditions = group_conditions;
        if let Some(relevant) = &relevant {
            conditions.push(relevant.tree.clone());
        }
        rows.push(row.number);
        questions.push(Question {
            name,
            kind,
            label: label.unwrap_or_default(),
            hint: localized(&sheet, row, &hints),
            required,
            required_message: localized(&sheet, row, &required_messages),
            relevant,
            constraint,
            constraint_message: localized(&sheet, row, &constraint_messages),
            calculation,
            default,
            read_only,
            choice_filter,
            groups: group_names,
            conditions,
        });
    }
    for (name, row, _) in open {
        builder.problem(
            "survey",
            row,
            Some("type"),
            format!("group '{name}' is never closed with end_group"),
        );
    }
    (questions, groups, rows)
}

fn read_eligibility(builder: &mut Builder<'_>) -> Vec<Rule> {
    let mut rules = Vec::new();
    let Some(sheet) = builder.find_sheet("eligibility", true).cloned() else {
        return rules;
    };
    if !builder.require_columns(&sheet, &["name", "rule"]) {
        return rules;
    }
    if sheet.rows.is_empty() {
        builder.problems.push(DefinitionProblem::sheet(
            "eligibility",
            "the eligibility sheet has no rules; a program needs at least one".to_owned(),
        ));
    }
    let labels = language_columns(&sheet, "label");
    let mut names: BTreeMap<String, u32> = BTreeMap::new();
    for row in &sheet.rows {
        let name = sheet.cell(row, sheet.column("name")).to_owned();
        if name.is_empty() || !is_valid_name(&name) {
            builder.problem(
                "eligibility",
                row.number,
                Some("name"),
                format!("'{name}' is not a valid rule name"),
            );
        } else if let Some(first) = names.insert(name.clone(), row.number) {
            builder.problem(
                "eligibility",
                row.number,
                Some("name"),
                format!("rule '{name}' appears twice (first on row {first})"),
            );
        }
        let label = localized(&sheet, row, &labels);
        if label.is_none() {
            builder.problem(
                "eligibility",
                row.number,
                Some("label"),
                format!("rule '{name}' has no label explaining it"),
            );
        }
        let rule = builder.expression("eligibility", &sheet, row, "rule", Place::Rule);
        if sheet.cell(row, sheet.column("rule")).is_empty() {
            builder.problem(
                "eligibility",
                row.number,
                Some("rule"),
                format!("rule '{name}' has no expression"),
            );
        }
        if let (Some(rule), Some(label)) = (rule, label) {
            rules.push(Rule { name, label, rule });
        }
    }
    rules
}

fn check_references(builder: &mut Builder<'_>, questions: &[Question], groups: &[Group]) {
    let pending = std::mem::take(&mut builder.pending);
    for item in pending {
        let mut messages: BTreeSet<String> = BTreeSet::new();
        item.tree.walk(&mut |node| match node {
            Expr::Ref(name) => {
                if groups.iter().any(|group| &group.name == name) {
                    messages.insert(format!("${{{name}}} is a group, which has no value"));
                } else if context_var(name).is_none()
                    && !questions.iter().any(|question| &question.name == name)
                {
                    messages.insert(format!(
                        "${{{name}}} is not a question, a calculation or a context fact"
                    ));
                }
            }
            Expr::Current if item.place != Place::Constraint => {
                messages.insert(
                    "'.' (the current answer) is only meaningful in a constraint".to_owned(),
                );
            }
            Expr::Column(name) if item.place != Place::ChoiceFilter => {
                messages.insert(format!(
                    "bare name '{name}': write ${{{name}}} to refer to a question"
                ));
            }
            Expr::Call(Function::ChoiceScore, arguments) => {
                if let Some(Expr::Ref(name)) = arguments.first() {
                    let is_select = questions
                        .iter()
                        .any(|question| &question.name == name && question.kind.list().is_some());
                    if !is_select
                        && context_var(name).is_none()
                        && questions.iter().any(|question| &question.name == name)
                    {
                        messages
                            .insert(format!("choice-score(${{{name}}}) needs a select question"));
                    }
                }
            }
            Expr::Call(Function::Regex, arguments) => {
                if let Some(Expr::Literal(Value::Text(pattern))) = arguments.get(1)
                    && let Err(error) = compile_regex(pattern)
                {
                    // The regex crate's message draws the pattern over several lines; its last line says why.
                    let error = error.to_string();
                    let reason = error
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .trim_start_matches("error: ");
                    messages.insert(format!("regex pattern '{pattern}' is invalid: {reason}"));
                }
            }
            _ => {}
        });
        for message in messages {
            builder.problem(item.sheet, item.row, Some(&item.column), message);
        }
    }
}

/// Orders questions so each comes after everything its relevance and calculation read; reports cycles.
fn evaluation_order(builder: &mut Builder<'_>, questions: &[Question], rows: &[u32]) -> Vec<usize> {
    let index_of: BTreeMap<&str, usize> = questions
        .iter()
        .enumerate()
        .map(|(index, question)| (question.name.as_str(), index))
        .collect();
    let dependencies: Vec<Vec<usize>> = questions
        .iter()
        .map(|question| {
            let mut names: Vec<String> = Vec::new();
            for condition in &question.conditions {
                names.extend(condition.references());
            }
            if let Some(calculation) = &question.calculation {
                names.extend(calculation.tree.references());
            }
            names
                .iter()
                .filter_map(|name| index_of.get(name.as_str()).copied())
                .collect()
        })
        .collect();
    // Iterative depth-first search: 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; questions.len()];
    let mut order = Vec::with_capacity(questions.len());
    let mut reported: BTreeSet<Vec<usize>> = BTreeSet::new();
    for start in 0..questions.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some((node, next)) = stack.last().copied() {
            let edges = &dependencies[node];
            if next < edges.len() {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                let target = edges[next];
                match state[target] {
                    0 => {
                        state[target] = 1;
                        stack.push((target, 0));
                    }
                    1 => {
                        let from = stack
                            .iter()
                            .position(|(member, _)| *member == target)
                            .unwrap_or(0);
                        let cycle: Vec<usize> =
                            stack[from..].iter().map(|(member, _)| *member).collect();
                        let mut key = cycle.clone();
                        key.sort_unstable();
                        if reported.insert(key) {
                            let mut path: Vec<&str> = cycle
                                .iter()
                                .map(|member| questions[*member].name.as_str())
                                .collect();
                            path.push(questions[target].name.as_str());
                            let first = &questions[cycle[0]];
                            let column = if first.calculation.is_some() {
                                "calculation"
                            } else {
                                "relevant"
                            };
                            builder.problems.push(DefinitionProblem {
                                sheet: "survey".to_owned(),
                                row: rows.get(cycle[0]).copied(),
                                column: Some(column.to_owned()),
                                message: format!(
                                    "these rows depend on each other in a cycle: {}",
                                    path.join(" → ")
                                ),
                            });
                        }
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                order.push(node);
                stack.pop();
            }
        }
    }
    order
}
